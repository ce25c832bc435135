"""Someone writing about another person's account: a relative, a partner, a friend. The gateway gives them the
privacy line (intent `third_party`); the number is not marked wrong (it may well be the debtor's own phone)."""
from __future__ import annotations

import re
import unicodedata

_RELATION = re.compile(
    r"\b(soy|le habla|habla|te habla|les habla|escribe)\s+(la|el|su|un|una)?\s*"
    r"(esposa|esposo|mujer|marido|pareja|novia|novio|hija|hijo|mama|madre|papa|padre|hermana|hermano|"
    r"tia|tio|prima|primo|sobrina|sobrino|abuela|abuelo|suegra|suegro|cunada|cunado|amiga|amigo|"
    r"vecina|vecino|familiar|conocida|conocido|jefa|jefe|companera|companero)\b"
    r"|\b(de parte de|en nombre de|por parte de)\b"
    r"|\b(mi|su)\s+(esposa|esposo|mujer|marido|pareja|hija|hijo|mama|papa|hermana|hermano)\s+"
    r"(debe|tiene|tenia|esta|me pidio|quiere)\b")


def speaks_for_someone_else(text: str) -> bool:
    """'Soy su esposa, solo dígame si tiene deuda' → True; 'no conozco a esa persona' → False."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _RELATION.search(plain) is not None
