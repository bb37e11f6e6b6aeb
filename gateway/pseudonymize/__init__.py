"""Reversible pseudonymisation: detected values out, typed placeholders in, values back in the answer.

- ``placeholders``: the keyed, deterministic placeholder of a value (``<PERSON_482913>``) and the
  per-request ``Vault`` that maps placeholders back to values (memory only: never logged, stored or sent);
- ``transform``: the outbound content with the detected values of chosen entity types replaced, every
  field at every depth, keys included;
- ``restore``: placeholders back to values in an answer, whole or streamed (a placeholder split across
  chunks is held back until complete), plain text or JSON strings (tool-call arguments).
"""

from gateway.pseudonymize.placeholders import SECRET_ENV, PseudonymKey, Vault
from gateway.pseudonymize.restore import StreamRestorer, restore
from gateway.pseudonymize.transform import Pseudonymized, pseudonymize

__all__ = ["SECRET_ENV", "PseudonymKey", "Pseudonymized", "StreamRestorer", "Vault", "pseudonymize", "restore"]
