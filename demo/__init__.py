"""The demo: a seeded marketplace (seed_demo), a storyline played through the real services
(story), and the activity that keeps it moving under `make run` (activity).

Not part of the marketplace's rules: it only calls jobs' and notifications' services, so
neither of those apps depends on it.
"""
