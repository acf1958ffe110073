"""The outbox pipeline: how one domain event becomes notifications on open pages.

Each hop is a function named <entity>_<action>; the Celery task that runs it has the same name.

1. recording.outbox_record         a save writes an OutboxEvent row in its own transaction and,
                                    on commit, enqueues notifications.outbox_event_dispatch.
2. dispatch.outbox_event_dispatch  re-reads the world (plans.delivery_plan_for), retracts the
                                    offers the event makes stale, resolves the audience with one
                                    query; up to OUTBOX_DIRECT_MAX_RECIPIENTS it goes on to
                                    direct.outbox_event_deliver_direct (insert + done in the same
                                    one transaction, no chunks, publish after commit; a re-run of a
                                    done direct event publishes again), else it splits it into
                                    OutboxChunk rows; one chunk is delivered right away, more are enqueued.
3. delivery.outbox_chunk_deliver   notifications.outbox_chunk_deliver: one INSERT for the chunk
                                    (_insert_notifications), publish after commit, mark it done,
                                    and the event when its last chunk is done.
4. sweeping.outbox_requeue_stale   beat: re-enqueues what a broker outage or a killed worker left.
5. failures                        non-transient errors are counted; the last attempt fails the row.

Modules import downwards only (recording and sweeping -> dispatch -> direct -> delivery -> failures), so
there is no import cycle; notifications/tasks.py registers these tasks with the worker.
"""
