"""Upload handling for the CSV import: stop receiving a file once it passes the import's limit."""

from django.core.files.uploadhandler import FileUploadHandler, StopUpload


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
            self.request.upload_too_large = True
            # The rest of the body is read and dropped (not stored), so the answer still reaches the browser.
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file
