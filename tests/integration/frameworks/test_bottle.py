"""Bottle as its users run it: `python3 app.py` with `bottle.run(reloader=True)`, and `app:`."""

BOTTLE_RUN = "command: python3 app.py"


def test_its_own_reloader_under_the_supervisor_serves_and_a_view_edit_is_served(serve):
    box = serve("bottle_app", BOTTLE_RUN).started("bottle v1")
    box.served_edit("app.py", '"bottle v1"', '"bottle v2"')
    box.served_edit("app.py", '"bottle v2"', '"bottle v3"')


def test_its_wsgi_app_under_app_serves_and_a_view_edit_is_served(serve):
    box = serve("bottle_app", "app: app:app").started("bottle v1")
    box.served_edit("app.py", '"bottle v1"', '"bottle v2"')
