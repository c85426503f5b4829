from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render

MESSAGE = "django v1"


def index(request):
    return render(request, "polls/index.html", {"message": MESSAGE})


def message(request):
    return HttpResponse(MESSAGE, content_type="text/plain")


def greeting(request):
    return HttpResponse(f"{settings.GREETING}, {settings.NOTE}", content_type="text/plain")
