"""A person's own account: sign up (with optional email verification), log in and out,
change a password, reset a forgotten one by email.

Django's auth views do the work; this module chooses their templates and adds signup.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from axes.utils import reset
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import (
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    UserCreationForm,
)
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse, reverse_lazy
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.http import urlsafe_base64_encode as encode_uid
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from django.views.decorators.http import require_http_methods, require_safe
from django.views.generic import TemplateView

from webchat import oidc, throttle
from webchat.auth import login_name
from webchat.models import SiteSettings, User, found_the_site

log = logging.getLogger(__name__)


@receiver(user_logged_in)
def _language_of(sender: type, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Logging in, on any device and by any way, brings the person's chosen language (or
    the browser's, when they chose none: not the one of whoever used this browser before)."""
    if request is not None:
        request.chosen_language = user.language


@receiver(user_logged_in)
def _no_notes_of_the_last_one(
    sender: type, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    """Notes left unread for whoever used this browser before (a logout's) are not theirs."""
    if request is not None:
        list(messages.get_messages(request))  # read, so dropped


class _PasswordChosen:
    """A form choosing a password, refused: "too short", "too common" are said against the
    password chosen, not its repetition, and the cursor goes to the first field to correct
    (to the first password when either is wrong: both come back empty)."""

    fields: dict[str, Any]
    errors: Any
    chosen, repeated = "password1", "password2"

    def full_clean(self) -> None:
        super().full_clean()
        wrong = next((name for name in self.fields if name in self.errors), None)
        if wrong == self.repeated:
            wrong = self.chosen
        if wrong is not None:
            for field in self.fields.values():
                field.widget.attrs.pop("autofocus", None)
            self.fields[wrong].widget.attrs["autofocus"] = True

    def validate_password_for_user(self, user: Any, *args: Any, **kwargs: Any) -> None:
        super().validate_password_for_user(user, password_field_name=self.chosen)


class NewPasswordForm(_PasswordChosen, SetPasswordForm):
    chosen, repeated = "new_password1", "new_password2"


class ChangePasswordForm(_PasswordChosen, PasswordChangeForm):
    chosen, repeated = "new_password1", "new_password2"


class SignupForm(_PasswordChosen, UserCreationForm):
    email = forms.EmailField(
        label=gettext_lazy("Email address"),
        required=False,
        help_text=gettext_lazy("Optional: for resetting a forgotten password."),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if settings.SIGNUP_VERIFY_EMAIL:
            self.fields["email"].required = True
            self.fields["email"].help_text = gettext("We send a link to confirm it.")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if email and _holders(email).exists():
            raise forms.ValidationError(
                gettext("An account with this email address exists already.")
            )
        return email


def _holders(email: str) -> Any:
    """Accounts that hold an address: not one that never confirmed it within the link's
    life (else anyone could squat an address by signing up with it)."""
    lapsed = timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    unconfirmed = Q(is_active=False, last_login=None, date_joined__lt=lapsed)
    return User.objects.filter(email__iexact=email).exclude(unconfirmed)


class VerificationTokens(PasswordResetTokenGenerator):
    """A link that works once: confirming stamps last_login, which the hash holds, so the
    link is dead afterwards, even if the account is deactivated again later."""

    key_salt = "webchat.accounts.VerificationTokens"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{user.pk}{user.is_active}{user.last_login}{user.email}{timestamp}"


verification_tokens = VerificationTokens()


def signup(request: HttpRequest) -> HttpResponse:
    if not SiteSettings.current().signup_open:
        raise Http404("Signup is closed.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    next_url = _safe_next(request)
    # Two limits per address: the forms sent, and the accounts made (a mistake costs none of
    # those). Refused before the form is read, which would tell whether a name is taken:
    # what was typed comes back unchecked, the passwords aside.
    if request.method == "POST" and (
        wait := throttle.spend(request, "signup_attempt") or throttle.wait_before(request, "signup")
    ):
        typed = {name: request.POST.get(name, "") for name in ("username", "email")}
        return _signup_page(request, SignupForm(initial=typed), next_url, wait)
    if request.method == "POST" and form.is_valid():
        user = _made(request, form)
        if isinstance(user, int):
            return _signup_page(request, form, next_url, user)
        if user is not None and (welcome := _welcome(request, user, next_url, form)):
            return welcome
    return _signup_page(request, form, next_url)


def _signup_page(
    request: HttpRequest, form: SignupForm, next_url: str, wait: int = 0
) -> HttpResponse:
    """The form; refused for `wait` seconds (past the address's accounts), 429 saying so."""
    context = {
        "form": form,
        "next": next_url,
        "action": reverse("signup"),
        "first_run": _founding(),
        "refused": throttle.waiting(wait) if wait else "",
    }
    response = render(request, "registration/signup.html", context, status=429 if wait else 200)
    if wait:
        response["Retry-After"] = str(wait)
    return response


def _made(request: HttpRequest, form: SignupForm) -> User | int | None:
    """The account the form asks for, made and counted against the address's limit in one
    transaction: past the limit it is undone (of many at once, those past it wait: the
    seconds are returned); a name taken meanwhile is said on the form (None) and costs
    nothing."""
    try:
        with transaction.atomic():
            user = form.save(commit=False)
            found_the_site(user)
            user.is_active = not settings.SIGNUP_VERIFY_EMAIL
            user.save()
            if wait := throttle.spend(request, "signup"):
                transaction.set_rollback(True)
                return wait
    except IntegrityError:
        form.add_error("username", User._meta.get_field("username").error_messages["unique"])
        return None
    return user


def _welcome(
    request: HttpRequest, user: User, next_url: str, form: SignupForm
) -> HttpResponse | None:
    """A new account's first page: the chat, or where to confirm its address. If the link
    cannot be mailed, the account goes again (it would hold its name and address) and the
    form says so (None)."""
    if not user.is_active:
        try:
            _send_verification(request, user)
        except OSError:  # smtplib's errors too
            log.exception("The confirmation email to a new account could not be sent")
            user.delete()
            form.add_error(None, gettext(MAIL_FAILED))
            return None
        return _message(
            request,
            gettext("Check your email"),
            gettext("We sent a link to %(email)s. Open it to start using your account.")
            % {"email": user.email},
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(next_url or "home")


def _founding() -> bool:
    """A fresh site, whose next signup makes its administrator: the pages say so."""
    return settings.FIRST_SIGNUP_IS_ADMIN and not User.objects.exists()


def _safe_next(request: HttpRequest) -> str:
    return on_this_site(request, request.POST.get("next") or request.GET.get("next") or "")


def on_this_site(request: HttpRequest, target: str) -> str:
    """`target` if it is an address of this site, else "": never a way to another site."""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""


def _send_verification(request: HttpRequest, user: User) -> None:
    uid = encode_uid(force_bytes(user.pk))
    token = verification_tokens.make_token(user)
    link = request.build_absolute_uri(reverse("verify-email", args=[uid, token]))
    body = render_to_string("registration/verify_email.txt", {"user": user, "link": link})
    send_mail(gettext("Confirm your webchat account"), body, None, [user.email])


@require_http_methods(["GET", "HEAD", "POST"])
def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The mailed link shows a button; its POST (with CSRF) opens the account. It does not
    log in: a link opened in someone else's browser must not sign them in as its owner."""
    try:
        user = User.objects.get(pk=int(urlsafe_base64_decode(uidb64).decode()))
    except (ValueError, OverflowError, User.DoesNotExist):
        user = None
    if (
        user is None
        or user.is_active
        or user.last_login is not None  # confirmed once already: deactivated since
        or not verification_tokens.check_token(user, token)
    ):
        return _link_not_valid(request)
    if request.method != "POST":  # a mail scanner's GET or HEAD opens nothing
        context = {"account": user, "title": gettext("Confirm your account")}
        return render(request, "registration/verify_confirm.html", context)
    user.is_active = True
    user.last_login = timezone.now()
    user.save(update_fields=["is_active", "last_login"])
    return _message(
        request, gettext("Account confirmed"), gettext("Your account is open: log in to start.")
    )


class EmailForm(forms.Form):
    email = forms.EmailField(
        required=False,
        label=gettext_lazy("Email address"),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        label=gettext_lazy("Your password"),
        help_text=gettext_lazy("To confirm it is you."),
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(gettext("That is not your password."))
        return password

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if email and _holders(email).exclude(pk=self.user.pk).exists():
            raise forms.ValidationError(gettext("Another account has this email address."))
        return email


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Who you are, your email (the way back from a forgotten password), your password.

    Where signup confirms addresses (SIGNUP_VERIFY_EMAIL), a new one is confirmed too: it
    is mailed a link and changes when the link is opened, so no account can hold an
    address its owner never saw (and keep that owner from signing up with it)."""
    user = request.user
    form = EmailForm(user, request.POST or None, initial={"email": user.email})
    saved = sent_to = ""
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if settings.SIGNUP_VERIFY_EMAIL and email and not _same_address(email, user.email):
            try:
                _send_email_change(request, user, email)
                sent_to = email
            except OSError:  # smtplib's errors too
                log.exception("The link to confirm a new email address could not be sent")
                form.add_error("email", gettext(CHANGE_MAIL_FAILED))
        else:
            _set_email(user, email)
            saved = gettext("Saved.")
        if not form.errors:
            form = EmailForm(user, initial={"email": user.email})
    if sent_to:
        saved = gettext("We sent a link to %(email)s. Your address changes when you open it.") % {
            "email": sent_to
        }
    context = {
        "form": form,
        "saved": saved,
        "has_password": user.has_usable_password(),
        "action": reverse("account"),
        "submit": gettext("Save email"),
    }
    return render(request, "account/account.html", context)


CHANGE_MAIL_FAILED = gettext_noop(
    "The email to confirm this address could not be sent. Please try again later."
)
# A new address's link: whose account, the address it had when asked (so the link works
# once, and not after another change), the new one.
EMAIL_CHANGE_SALT = "webchat.accounts.email-change"


def _email_digest(email: str) -> str:
    """The address a link was asked from, not readable in the link (it goes to another)."""
    return salted_hmac(EMAIL_CHANGE_SALT, email).hexdigest()[:20]


def _send_email_change(request: HttpRequest, user: User, email: str) -> None:
    token = signing.dumps([user.pk, _email_digest(user.email), email], salt=EMAIL_CHANGE_SALT)
    link = request.build_absolute_uri(reverse("email-change", args=[token]))
    context = {"user": user, "link": link}
    body = render_to_string("registration/change_email.txt", context)
    send_mail(gettext("Confirm your new email address"), body, None, [email])


def _same_address(a: str, b: str) -> bool:
    """The same mailbox, whatever the case of its ASCII letters. Not for other letters:
    "\u212a" (the Kelvin sign) is valid in an address and lowers to "k", so it would pass
    a look-alike off as the same address, unconfirmed and untold."""
    return a == b or (a.isascii() and b.isascii() and a.lower() == b.lower())


def _set_email(user: User, email: str) -> None:
    """The account's address is `email` now. Where addresses are confirmed, the one it had,
    if any other, is told: if someone else made the change (a session left open), its
    owner learns of it there, whether it was replaced or taken out. The new address is not
    named to it, as the old mailbox may be another's by now. (Where they are not, the old
    address may be anyone's, typed by whoever changes it: no mail goes to it.)"""
    old = user.email
    user.email = email
    user.save(update_fields=["email"])
    if not settings.SIGNUP_VERIFY_EMAIL or not old or _same_address(old, email):
        return
    body = render_to_string("registration/email_changed.txt", {"user": user})
    try:
        send_mail(gettext("Your email address was changed"), body, None, [old])
    except OSError:  # the change is made; the notice is not worth failing it for
        log.exception("The notice of a changed email address could not be sent")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def change_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to a new address: a button, whose POST (with CSRF) makes it the
    account's. Only for that account, logged in (whoever reads the mailbox is not its
    owner: an old link replayed, a mistyped address's). Dead once the address changed,
    or after a reset link's life; refused if another account has taken it since."""
    user = request.user
    try:
        pk, old, new = signing.loads(
            token, salt=EMAIL_CHANGE_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT
        )
        valid = pk == user.pk and old == _email_digest(user.email) and isinstance(new, str)
    except (signing.BadSignature, ValueError, TypeError):
        valid = False
    if not valid or _holders(new).exclude(pk=user.pk).exists():
        return _link_not_valid(request)
    if request.method != "POST":  # a mail scanner's GET or HEAD changes nothing
        context = {"account": user, "title": gettext("Confirm your email address")}
        return render(request, "registration/verify_confirm.html", context)
    _set_email(user, new)
    context = {
        "title": gettext("Email address changed"),
        "message": gettext("Your account's email address is now %(email)s.") % {"email": new},
        "link_url": reverse("account"),
        "link_text": gettext("Back to your account"),
    }
    return render(request, "registration/message.html", context)


MAIL_FAILED = gettext_noop(
    "The email to confirm your address could not be sent, so no account was made. "
    "Please try again later."
)
LAST_ADMINISTRATOR = gettext_lazy(
    "You are the site's only administrator: make another account an "
    "administrator in the admin first, or the site is left without one."
)


class DeleteAccountForm(forms.Form):
    """Proof that the person at the keyboard owns the account: its password, or, for an
    account that signs in through a provider and has none, its username typed out."""

    confirmation = forms.CharField(strip=False)

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        field = self.fields["confirmation"]
        if user.has_usable_password():
            field.label = gettext("Your password")
            field.widget = forms.PasswordInput(attrs={"autocomplete": "current-password"})
        else:
            field.label = gettext("Your username")
            field.help_text = gettext("Type “%(name)s” to confirm.") % {"name": user.get_username()}

    def clean(self) -> dict[str, Any]:
        if _last_administrator(self.user):
            raise forms.ValidationError(LAST_ADMINISTRATOR)
        return self.cleaned_data

    def clean_confirmation(self) -> str:
        given = self.cleaned_data["confirmation"]
        if self.user.has_usable_password():
            if not self.user.check_password(given):
                raise forms.ValidationError(gettext("That is not your password."))
        elif given != self.user.get_username():
            raise forms.ValidationError(gettext("That is not your username."))
        return given


def _last_administrator(user: User) -> bool:
    """Whether the site would be left without an administrator (staff and superuser, and
    active) while other people remain."""
    admins = User.objects.filter(is_superuser=True, is_staff=True, is_active=True)
    return (
        admins.filter(pk=user.pk).exists()
        and not admins.exclude(pk=user.pk).exists()
        and User.objects.exclude(pk=user.pk).exists()
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """The person and everything of theirs goes: conversations, shares, attachments' files,
    saved prompts, API keys. Their sockets close and their replies and API calls stop at
    once (conversations/signals.py); the ledger keeps its rows without them, so the operator's
    totals stay right. Their other sessions can no longer load a person."""
    user = request.user
    form = DeleteAccountForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # The site settings' row, locked, makes two administrators leaving at once take
            # turns: the second is refused (as signups use it for the first).
            SiteSettings.current()
            SiteSettings.objects.select_for_update().filter(pk=1).first()
            if _last_administrator(user):
                form.add_error(None, LAST_ADMINISTRATOR)
                return render(request, "account/delete.html", _delete_context(form), status=400)
            user.delete()
        logout(request)
        return _message(
            request,
            gettext("Account deleted"),
            gettext("Your account and everything in it are gone."),
        )
    context = _delete_context(form)
    # Said before the password is typed, not after: the page has no form to send then.
    context["last_administrator"] = not form.errors and _last_administrator(user)
    return render(request, "account/delete.html", context, status=400 if form.errors else 200)


def _delete_context(form: DeleteAccountForm) -> dict[str, Any]:
    context = {"form": form, "action": reverse("account-delete")}
    return {**context, "submit": gettext("Delete my account"), "why_not": LAST_ADMINISTRATOR}


@require_safe
def session_check(request: HttpRequest) -> HttpResponse:
    """204 for a live login session, 401 without one: what the shipped nginx asks before it
    lets a large body through (an import)."""
    return HttpResponse(status=204 if request.user.is_authenticated else 401)


def _link_not_valid(request: HttpRequest) -> HttpResponse:
    return _message(
        request,
        gettext("Link not valid"),
        gettext("This link was used already, or it is not valid."),
    )


def _message(request: HttpRequest, title: str, message: str) -> HttpResponse:
    context = {
        "title": title,
        "message": message,
        "link_url": reverse("login"),
        "link_text": gettext("Log in"),
    }
    return render(request, "registration/message.html", context)


def _form_view(view: type, title: str, submit: str, **kwargs: Any) -> Any:
    context = {"title": title, "submit": submit, **kwargs.pop("context", {})}
    return view.as_view(template_name="registration/form.html", extra_context=context, **kwargs)


def _done_view(title: str, message: str, link_url: str, link_text: str) -> Any:
    context = {"title": title, "message": message, "link_url": link_url, "link_text": link_text}
    return TemplateView.as_view(template_name="registration/message.html", extra_context=context)


class AccountLanguageResetForm(PasswordResetForm):
    """The reset link is written in the account's language, where it has one: the page
    asking may be in another (a borrowed browser, or one in the person's second language)."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        with translation.override(context["user"].language or translation.get_language()):
            super().send_mail(
                subject_template_name,
                email_template_name,
                context,
                from_email,
                to_email,
                html_email_template_name,
            )


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A completed reset proves the person owns the account: its login locks are lifted."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        reset(username=login_name(self.request, {"username": form.user.get_username()}))
        return response


class LoginView(auth_views.LoginView):
    """Django's login, with a button for each OpenID Connect provider configured."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "oidc_providers": oidc.providers(self.request),
            "first_run": _founding(),
        }

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Sent here by a chat page whose session ended (a logout or a password change
        # elsewhere), or by any page asked for with a session cookie that names no session
        # any more: why it is asked to log in again.
        ended = request.GET.get("ended") == "1" or (
            "next" in request.GET
            and settings.SESSION_COOKIE_NAME in request.COOKIES
            and not request.user.is_authenticated
        )
        if ended:
            messages.warning(
                request,
                gettext(
                    "Your session has ended: you logged out, your password was changed, or "
                    "it expired. Log in again to go on."
                ),
            )
        return super().get(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        # The name is kept and most likely right: the cursor goes to the password, to type
        # again.
        if form.data.get("username"):
            form.fields["username"].widget.attrs.pop("autofocus", None)
            form.fields["password"].widget.attrs["autofocus"] = True
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    """Django's logout, which then says so on the page it leads to."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, gettext("You have logged out."))
        return response


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("signup/", signup, name="signup"),
    path("verify/<uidb64>/<token>/", verify_email, name="verify-email"),
    path("email/<str:token>/", change_email, name="email-change"),
    path("", account, name="account"),
    path("delete/", delete_account, name="account-delete"),
    path("session/", session_check, name="session-check"),
    path(
        "password/",
        _form_view(
            auth_views.PasswordChangeView,
            gettext_lazy("Change your password"),
            gettext_lazy("Change password"),
            form_class=ChangePasswordForm,
            success_url=reverse_lazy("password_change_done"),
            context={
                "back_url": reverse_lazy("account"),
                "back_text": gettext_lazy("Back to your account"),
            },
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        login_required(
            _done_view(
                gettext_lazy("Password changed"),
                gettext_lazy("Your password is changed. Your other sessions were logged out."),
                reverse_lazy("home"),
                gettext_lazy("Back to chat"),
            )
        ),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        _form_view(
            auth_views.PasswordResetView,
            gettext_lazy("Reset your password"),
            gettext_lazy("Send me a link"),
            form_class=AccountLanguageResetForm,
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
            extra_email_context={"timeout_days": settings.PASSWORD_RESET_TIMEOUT // 86_400},
            success_url=reverse_lazy("password_reset_done"),
            context={
                "intro": gettext_lazy(
                    "Enter the email address of your account and we'll send you a link."
                ),
                "back_url": reverse_lazy("login"),
                "back_text": gettext_lazy("Back to log in"),
            },
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        _done_view(
            gettext_lazy("Check your email"),
            gettext_lazy(
                "If an account has this address, a link to reset its password is on its way."
            ),
            reverse_lazy("login"),
            gettext_lazy("Back to log in"),
        ),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        _form_view(
            PasswordResetConfirmView,
            gettext_lazy("Choose a new password"),
            gettext_lazy("Set password"),
            form_class=NewPasswordForm,
            success_url=reverse_lazy("password_reset_complete"),
            context={
                "back_url": reverse_lazy("login"),
                "back_text": gettext_lazy("Back to log in"),
            },
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        _done_view(
            gettext_lazy("Password set"),
            gettext_lazy(
                "Your new password is set, and every session of your account was logged out."
            ),
            reverse_lazy("login"),
            gettext_lazy("Log in"),
        ),
        name="password_reset_complete",
    ),
]
