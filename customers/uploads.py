"""Upload handling for the CSV import: stop receiving a file once it passes the import's limit."""

from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# The rest of an oversized body is read and dropped this many bytes at a time, whatever its lines hold.
DRAIN_CHUNK = 64 * 1024
# Past the limit, at most this much more is drained so the browser sees the answer; a body still going on
# after that has its connection closed instead (a client sending gigabytes gets no answer, only a reset).
DRAIN_MAX = 64 * 1024 * 1024


class LimitedUploadHandler(FileUploadHandler):
    """First in the chain: passes each chunk on, and stops the upload once a file passes `limit` bytes.

    Django would otherwise write the whole upload to a temporary file, whatever its size, before the
    view could look at it. The request is marked, so the view can say why the file is missing.
    """

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            assert self.request is not None  # Django gives an upload handler its request
            self.request.upload_too_large = True  # type: ignore[attr-defined]
            raise StopUpload(connection_reset=not self._drained())
        return raw_data

    def _drained(self) -> bool:
        """Read what is left of the body in fixed-size chunks and drop it; False if it goes past DRAIN_MAX.

        Left to Django, the rest would be drained line by line: a body without a newline is one line,
        read whole into memory.
        """
        assert self.request is not None
        drained = 0
        while drained <= DRAIN_MAX:
            chunk = self.request.read(DRAIN_CHUNK)
            if not chunk:
                return True
            drained += len(chunk)
        return False

    def file_complete(self, file_size):
        return None  # the next handler builds the file
