"""Signing in, and where each role starts."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from ..forms import LoginForm
from .common import is_cleaner, too_many

class LoginView(auth_views.LoginView):
    """Django's login page; a locked login is a 429 with the time to wait on the page."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_for is not None:
            too_many(response, form.locked_for)
        return response


@login_required
def home(request):
    """Each role starts where it works."""
    return redirect("jobs:board" if is_cleaner(request) else "jobs:mine")
