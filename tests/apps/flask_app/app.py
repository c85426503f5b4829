from flask import Flask, render_template

MESSAGE = "flask v1"

app = Flask(__name__)


@app.route("/")
def index():
    return render_template("index.html", message=MESSAGE)


@app.route("/message")
def message():
    return MESSAGE
