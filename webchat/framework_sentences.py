"""Django's own sentences that a person's pages show, in the interface's catalogs.

The Spanish interface speaks to a person as "tú"; Django's Spanish catalog speaks to them
as "usted" ("Su contraseña antigua es incorrecta…"), so the sign-up, log-in and password
pages read as two voices. A translation in LOCALE_PATHS wins over Django's, so listing the
sentences here brings them into `make translations` and our catalogs, where they are
translated in the interface's voice. Only the forms a person meets are listed: their
fields, their validators and the password validators of settings.AUTH_PASSWORD_VALIDATORS.
The admin keeps Django's own voice. Nothing imports this module; makemessages reads it.
"""

# Django's msgids write an apostrophe as U+2019, so these must too.
# ruff: noqa: RUF001
from django.utils.translation import gettext_noop, ngettext_lazy

SENTENCES = (
    # django.contrib.auth: sign-up, log-in, the password forms and validators.
    gettext_noop("Enter the same password as before, for verification."),
    gettext_noop(
        "Please enter a correct %(username)s and password. Note that both fields may be "
        "case-sensitive."
    ),
    gettext_noop("Your old password was entered incorrectly. Please enter it again."),
    gettext_noop("Your password can’t be too similar to your other personal information."),
    gettext_noop("Your password can’t be a commonly used password."),
    gettext_noop("Your password can’t be entirely numeric."),
    gettext_noop(
        "Enter a valid username. This value may contain only letters, numbers, and "
        "@/./+/-/_ characters."
    ),
    gettext_noop("Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only."),
    # django.forms: the fields of the account, preferences, folders and keys forms.
    gettext_noop("Enter a valid email address."),
    gettext_noop("Enter a valid value."),
    gettext_noop("Enter a number."),
    gettext_noop("Enter a whole number."),
    gettext_noop("Enter a valid date."),
    gettext_noop("Ensure this value is less than or equal to %(limit_value)s."),
    gettext_noop("Ensure this value is greater than or equal to %(limit_value)s."),
    gettext_noop("Select a valid choice. %(value)s is not one of the available choices."),
    gettext_noop("Select a valid choice. That choice is not one of the available choices."),
)

PLURALS = (
    ngettext_lazy(
        "Your password must contain at least %(min_length)d character.",
        "Your password must contain at least %(min_length)d characters.",
        "min_length",
    ),
    ngettext_lazy(
        "Ensure this value has at least %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at least %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
)
