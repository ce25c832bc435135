"""What the bot says at the door, written out here independently of domain.yml: tests compare against it."""
from __future__ import annotations

GREETING = "¡Hola! 👋 Soy el asistente virtual de Acuerdo."
NEED = ("Con gusto te ayudo. Por privacidad, solo hablo de una cuenta con su titular: antes necesito confirmar "
        "tu identidad.")
DOCUMENT = {"MX": "INE o CURP (la que registraste con tu cuenta)", "CO": "cédula", "AR": "DNI",
            "CL": "RUT (sin el dígito verificador)", "PE": "DNI"}


def ask(country: str = "MX") -> str:
    return f"¿Me compartes los últimos 4 dígitos de tu {DOCUMENT[country]}?"


def hint(country: str = "MX") -> str:
    return f"Necesito solo los últimos 4 dígitos de tu {DOCUMENT[country]}, por ejemplo 1234. ¿Me los escribes?"


def retry(left: int) -> str:
    """One prompt: the retry asks again itself (no second question after it), in correct Spanish plurals."""
    if left == 1:
        return "Ese dato no coincide con nuestros registros. Te queda un último intento: ¿me lo escribes de nuevo?"
    return f"Ese dato no coincide con nuestros registros. Te quedan {left} intentos: ¿me lo escribes de nuevo?"


ASK = ask("MX")
HINT = hint("MX")
