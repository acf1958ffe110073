"""Tools for developers, shared by the tests (tests/) and the benchmarks (bench/).

processes.py starts the real services (Celery worker, uvicorn) on free ports and
stops them; sse.py reads Server-Sent Events; pushpin.py runs a private Pushpin.
The product (jobs, notifications, project) never imports from here.
"""
