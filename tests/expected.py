"""What the bot says at the door, written out here independently of domain.yml: tests compare against it."""
from __future__ import annotations

GREETING = "¡Hola! 👋 Soy el asistente virtual de Acuerdo."
NEED = "Con gusto te ayudo. Antes, para proteger tu información, necesito confirmar tu identidad."
ASK = "¿Me compartes los últimos 4 dígitos de tu documento de identidad?"
HINT = "Necesito los últimos 4 dígitos de tu documento, por ejemplo 1234."
