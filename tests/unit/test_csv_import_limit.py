"""Issue 10.7 (CSV import): the upload is read in chunks and cut off at the limit, never read whole first."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from customers import groups
from customers.groups import group_import_csv
from customers.models import Customer, Group

pytestmark = pytest.mark.django_db

LIMIT = 4096


class CountingFile(io.BytesIO):
    """A file that records how much was read from it."""

    def __init__(self, data):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def big_csv(rows: int) -> bytes:
    return ("name,mobile\n" + "".join(f"客户{i},139{i:08d}\n" for i in range(rows))).encode()


def test_a_file_past_the_limit_is_read_only_up_to_it(monkeypatch):
    monkeypatch.setattr(groups, "MAX_IMPORT_BYTES", LIMIT)
    monkeypatch.setattr(groups, "READ_CHUNK", 1024)
    upload = CountingFile(big_csv(20_000))  # ~500 KB
    result = group_import_csv(group=Group.objects.create(name="g"), data=upload)
    assert not result.ok
    assert "larger than" in result.errors[0][1]
    assert upload.bytes_read <= LIMIT + 1024
    assert not Customer.objects.exists()


def test_a_file_within_the_limit_is_imported_from_the_upload(monkeypatch):
    monkeypatch.setattr(groups, "MAX_IMPORT_BYTES", LIMIT)
    upload = SimpleUploadedFile("c.csv", big_csv(10))
    assert group_import_csv(group=Group.objects.create(name="g"), data=upload).ok
    assert Customer.objects.count() == 10


def test_the_import_page_stops_an_oversized_upload_while_it_arrives(admin_client, monkeypatch):
    monkeypatch.setattr(groups, "MAX_IMPORT_BYTES", LIMIT)
    group = Group.objects.create(name="g")
    url = reverse("admin:customers_group_import", args=[group.pk])
    response = admin_client.post(url, {"file": SimpleUploadedFile("c.csv", big_csv(2000))})
    assert response.status_code == 200
    assert response.wsgi_request.upload_too_large is True
    assert "larger than 20 MB" in response.content.decode()
    assert not Customer.objects.exists()
    # A file within the limit still goes through, with CSRF still checked.
    response = admin_client.post(url, {"file": SimpleUploadedFile("c.csv", big_csv(5))})
    assert response.status_code == 302
    assert Customer.objects.count() == 5


def test_the_import_page_still_checks_csrf(admin_user):
    group = Group.objects.create(name="g")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse("admin:customers_group_import", args=[group.pk])
    response = client.post(url, {"file": SimpleUploadedFile("c.csv", big_csv(5))})
    assert response.status_code == 403
    assert not Customer.objects.exists()


class RecordingStream:
    """The request's body stream, recording the largest piece any one read handed out."""

    def __init__(self, stream):
        self.stream, self.largest = stream, 0

    def _seen(self, data: bytes) -> bytes:
        self.largest = max(self.largest, len(data))
        return data

    def read(self, *args, **kwargs):
        return self._seen(self.stream.read(*args, **kwargs))

    def readline(self, *args, **kwargs):
        return self._seen(self.stream.readline(*args, **kwargs))


def test_an_oversized_upload_without_newlines_is_drained_in_small_pieces(rf):
    # Issue 22 (5): Django drained the rest of a stopped upload line by line; a body without a newline
    # was one line, read whole into memory (200 MB added 320 MB to a web worker).
    from customers.uploads import DRAIN_CHUNK, LimitedUploadHandler

    size = 3 * 1024 * 1024
    request = rf.post("/import/", {"file": SimpleUploadedFile("c.csv", b"x" * size)})
    request._stream = RecordingStream(request._stream)
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=LIMIT))
    assert "file" not in request.FILES
    assert request.upload_too_large is True
    assert request._stream.largest <= DRAIN_CHUNK
    assert request.read() == b""  # all of it was drained


def test_an_upload_far_past_the_limit_is_not_drained_to_the_end(rf, monkeypatch):
    from customers import uploads

    monkeypatch.setattr(uploads, "DRAIN_MAX", 256 * 1024)
    request = rf.post("/import/", {"file": SimpleUploadedFile("c.csv", b"x" * (2 * 1024 * 1024))})
    request._stream = RecordingStream(request._stream)
    request.upload_handlers.insert(0, uploads.LimitedUploadHandler(request, limit=LIMIT))
    assert "file" not in request.FILES
    assert request.upload_too_large is True
    # The rest is left unread: the server closes the connection after the answer.
    assert len(request.read()) > 1024 * 1024
