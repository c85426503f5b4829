from bottle import default_app, route, run, template

MESSAGE = "bottle v1"


@route("/")
def index():
    return template("<h1>{{message}}</h1>", message=MESSAGE)


app = default_app()  # what a WSGI server imports

if __name__ == "__main__":
    run(host="0.0.0.0", port=8000, reloader=True)
