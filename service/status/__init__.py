"""Delivery status from Push.R's message list, published as `status` events.

Push.R sends no callbacks: the only way to learn that a message was `delivered`, `failed` or
`partial_failed` is its message list (`GET /sms/?business=ID`, JWT, newest first, paginated).

    handler ─► TrackingPublisher ─► TrackStore (memory | Redis hash)       tracking.py, tracked.py
                                          │
    lease holder ─► StatusPoller ─► MessageListReader ─► Push.R list       poller.py, list_reader.py
                         └─► status events (delivered | failed | partial_failed)

The composition root (`service.app`) builds these from the settings.
"""
