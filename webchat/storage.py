from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files; ES module imports point at hashed names too, so a
    page never mixes one release's chat.js with another's render.js."""

    support_js_module_import_aggregation = True
