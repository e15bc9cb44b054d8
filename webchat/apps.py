from django.apps import AppConfig


class WebchatConfig(AppConfig):
    name = "webchat"
    verbose_name = "webchat platform"

    def ready(self) -> None:
        from webchat import text

        text.guard("webchat")
