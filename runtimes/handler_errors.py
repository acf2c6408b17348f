"""Typed bad-input errors of the Lambda handler.

On a direct invoke the handler lets these propagate, so Lambda reports the class name as
``errorType`` and callers can branch on the cause without parsing messages. On HTTP events the
handler turns them into ``{"errorType", "errorMessage"}`` with the class's ``status``:

=====  ==========================================================================================
413    BodyTooLarge, ImageTooLarge, DownloadTooLarge (size caps)
422    NotAnImage, TruncatedImage, ImageTooComplex, DownloadFailed, DownloadTimeout,
       TooManyRedirects (the request was well formed but what it points to cannot be classified)
400    everything else (malformed request, forbidden URL)
500    InternalError (HTTP only; anything unexpected, logged with the request id)
=====  ==========================================================================================

The message the caller sees is stable per cause and never carries internal facts (resolved
addresses, network error text, library exception text): those go to ``detail``, which only the log
line shows. A message such as "address 127.0.0.1 is not public" would let a caller inside a VPC map
private DNS names to IPs.
"""

from __future__ import annotations


class BadInput(ValueError):
    """Base of every client-side error: the request, not the service, is at fault."""

    status = 400

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        #: what the log line adds to the message (internal facts the caller must not see)
        self.detail = detail


class InvalidJson(BadInput):
    """The body (or the event itself) is not a JSON object."""


class MissingInput(BadInput):
    """Neither ``url`` nor ``image_b64`` (nor an image body) was given."""


class AmbiguousInput(BadInput):
    """Both ``url`` and ``image_b64`` were given; refusing to guess which one is meant."""


class InvalidField(BadInput):
    """A field has the wrong JSON type (e.g. ``url`` is a number)."""


class InvalidBase64(BadInput):
    """``image_b64`` or a base64-encoded body does not decode."""


class EmptyBody(BadInput):
    """The request carried no bytes where an image or JSON was expected."""


class BodyTooLarge(BadInput):
    """Request body (or decoded ``image_b64``) exceeds MAX_BODY_BYTES."""

    status = 413


class NotAnImage(BadInput):
    """The bytes are not an image in a format the service decodes."""

    status = 422


class TruncatedImage(BadInput):
    """The header parsed but the pixel data is truncated or corrupt."""

    status = 422


class ImageTooLarge(BadInput):
    """Width x height exceeds MAX_IMAGE_PIXELS (decompression-bomb guard), checked before decoding."""

    status = 413


class ImageTooComplex(BadInput):
    """The decode work is over a cap the pixel cap does not cover, counted before decoding: a JPEG with
    more scans than MAX_JPEG_SCANS, or more metadata blocks than the budget (runtimes/structure.py)."""

    status = 422


class InvalidUrl(BadInput):
    """``url`` cannot be parsed, has no host, a bad port or is absurdly long."""


class UnsupportedUrlScheme(BadInput):
    """Only http and https URLs are fetched."""


class ForbiddenAddress(BadInput):
    """The URL (or a redirect) resolves to a loopback/private/link-local/reserved/... address."""


class TooManyRedirects(BadInput):
    """More redirects than the cap, or a redirect without a usable Location."""

    status = 422


class DownloadTimeout(BadInput):
    """The download did not finish within URL_TIMEOUT_S (an overall deadline, not per read)."""

    status = 422


class DownloadTooLarge(BadInput):
    """The download exceeds MAX_DOWNLOAD_BYTES (by Content-Length or by bytes actually received)."""

    status = 413


class DownloadFailed(BadInput):
    """The server could not be reached, TLS failed, or it answered with a non-200 status."""

    status = 422


#: Every error type, for docs and tests.
ALL: tuple[type[BadInput], ...] = (
    InvalidJson,
    MissingInput,
    AmbiguousInput,
    InvalidField,
    InvalidBase64,
    EmptyBody,
    BodyTooLarge,
    NotAnImage,
    TruncatedImage,
    ImageTooLarge,
    ImageTooComplex,
    InvalidUrl,
    UnsupportedUrlScheme,
    ForbiddenAddress,
    TooManyRedirects,
    DownloadTimeout,
    DownloadTooLarge,
    DownloadFailed,
)


class MissingExtra(RuntimeError):
    """The card's pipeline needs a package the function was built without (runtimes/preprocess.py
    ``LOADER_EXTRAS``): raised at INIT, a deployment fault like a missing model, never the caller's."""


class InternalError(Exception):
    """Anything that is not the caller's fault (a deployment bug, a runtime failure). The caller gets
    only this type and the request id; the log line carries the real type, message and traceback."""

    status = 500

    def __init__(self, request_id: str | None) -> None:
        super().__init__(f"internal error (request {request_id}); see logs")
