"""The portal's URLs plus the benchmark's baseline: an empty view behind the same middleware."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def empty(request):
    return JsonResponse({})


urlpatterns = [
    path("bench/empty", empty),
    path("", include("portal.urls")),
]
