"""Server-Sent Events: one channel per user, published by any process, streamed by the web process.

Layers, bottom to top; a module imports only from the rows below it (never upward):

    endpoint      GET /events/: checks, authentication, admission, the stream loop
    grip          the endpoint behind Pushpin: Grip-Sig, the held answer, the catch-up
    publishing    publish(events) / publish_notifications(rows): frames -> the transport
    revocation    cutting off the streams of a revoked credential (sign-out, token, password)
    limits        admitting a stream into the hub: caps, 503s
    transports    one object chosen from settings: Pushpin (GRIP), Redis, or the in-process hub
    hub           this process's open streams (Listener) and its Redis subscription
    opening       database reads: the opening (replay, unread count) and the GRIP catch-up
    credentials   what a stream was opened with (session or token) and whether it still holds
    frames        the contract: event names, each event's payload (the API serializer), encoding
    channels      names of the publish channels (user, session, token, password, control)
    gc_pauses     how long the garbage collector stops the process (a histogram in /metrics)
    gc_policy     the garbage-collector freeze policy of long-lived streams
    sequence      per-connection SSE id: the contiguous watermark of the user's seq
    database      the few threads (kept connections) that run every database read of the streams

tests/notifications/test_sse_layers.py checks this order.

An event's path by name: a service calls publishing.publish([frames.<event>_event(...)]) after
commit -> transports.current().send_frames -> Redis channel ``sse:user:<id>`` ->
hub.StreamHub._read -> Listener.put -> endpoint._relay_live -> the browser (or, with
Pushpin, transports.PushpinTransport -> Pushpin -> the browser).
"""
