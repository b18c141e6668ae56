"""Serve static files (admin CSS, our stylesheet) straight from the app directories.

The community server runs without a separate web server, so no collectstatic step:
files are looked up with the staticfiles finders, which only search the installed apps'
static/ directories (no path traversal outside them).
"""
import mimetypes
import posixpath

from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404


def serve_static(request, path):
    path = posixpath.normpath(path).lstrip("/")
    if path.startswith("..") or "\x00" in path:
        raise Http404()
    found = finders.find(path)
    if not found:
        raise Http404()
    ctype, enc = mimetypes.guess_type(found)
    resp = FileResponse(open(found, "rb"), content_type=ctype or "application/octet-stream")
    resp["Cache-Control"] = "public, max-age=3600"
    return resp
