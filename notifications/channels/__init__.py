"""Email and Web Push: deliveries of an in-app notification, routed by the catalog's channel policy.

policy (delays, who has a channel on, when a pending delivery is stale), routing (the
delivery rows, made in the fan-out's own INSERT transaction), dispatching (the beat pick,
the claim, retries), email and push (one batch each over one connection), unsubscribe
(the signed one-click link of every email), holds (which deliveries a claim holds back: a
digest window, the job offer cap in caps, a hold until a known time), digests (sending the
held ones of a batch as one email or push).
"""
