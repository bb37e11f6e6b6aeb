"""EMAIL_ADDRESS without touching the network.

Presidio's ``EmailRecognizer`` validates a match with the module-level
``tldextract.extract``, whose first call downloads the Public Suffix List.
These subclasses use their own ``tldextract.TLDExtract`` built with no suffix
list URLs and no cache directory: it reads the snapshot shipped inside the
tldextract package and never opens a connection or writes a file.

EMAIL_ADDRESS: Presidio's pattern; 1.0 when the domain ends in a public
suffix, 0.5 when it ends in another alphabetic label (``@bank.internal``
is still somebody's address), not reported otherwise.

URL uses Presidio's ``UrlRecognizer`` as is: its patterns carry their own TLD
list and it calls nothing that fetches (the no-network test guards that).
"""

from __future__ import annotations

import tldextract
from presidio_analyzer.predefined_recognizers import EmailRecognizer


def offline_extractor() -> tldextract.TLDExtract:
    """A TLDExtract that only ever reads the snapshot bundled with tldextract."""
    return tldextract.TLDExtract(
        cache_dir=None,
        suffix_list_urls=(),
        fallback_to_snapshot=True,
    )


class OfflineEmailRecognizer(EmailRecognizer):
    """EMAIL_ADDRESS with an offline public suffix check."""

    def __init__(self, supported_language: str = "en") -> None:
        self._extract = offline_extractor()
        super().__init__(supported_language=supported_language)

    def validate_result(self, pattern_text: str) -> bool | None:
        domain = pattern_text.rpartition("@")[2]
        if self._extract(domain).suffix:
            return True
        last_label = domain.rpartition(".")[2]
        if last_label.isalpha() and len(last_label) >= 2:
            return None  # keep the pattern's score
        return False
