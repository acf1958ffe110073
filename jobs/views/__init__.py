"""Server-rendered marketplace pages, one module per page concern. Thin: look up what the user may see, call a service, redirect.

Every form works without JavaScript (POST, redirect, GET). A form with bad input is
rendered again with its field errors (status 400); a form whose write budget is
spent (the same budget as the API's) is rendered again with the time to wait
(status 429) and creates nothing; a refused action (a domain error: forbidden,
wrong state) comes back as a message on the page it was sent from. Objects a user may not see are 404, never 403, so ids leak nothing.

common       who the user is, what they may see, the shared write budget, POST-redirect-GET
account      sign in, and where each role starts
client       post a job, my jobs
job_page     the job page and the fragments its script re-fetches
job_actions  the job page's buttons and forms: bids, transitions, payment, messages
cleaner      the job board, my bids
profile      the cleaner's profile: what decides their offers
places       the job form's map asks where an address is
"""
