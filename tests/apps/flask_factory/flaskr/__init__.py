"""The Flask tutorial's layout: a package with an application factory."""

from flask import Flask, render_template

MESSAGE = "factory v1"


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY="dev")
    if test_config is not None:
        app.config.update(test_config)

    @app.route("/")
    def index():
        return render_template("index.html", message=MESSAGE + app.config.get("SUFFIX", ""))

    @app.route("/message")
    def message():
        return MESSAGE

    return app
