import pytest

from bot.common.phones import InvalidPhone, normalize_phone, sender_id_for, split_sender_id


@pytest.mark.parametrize(("raw", "country", "e164"), [
    # Mexico: local, international, WhatsApp's +521 mobile form, and the retired 044/045 prefixes
    ("55 1234 5678", "MX", "+525512345678"),
    ("(55) 1234-5678", "MX", "+525512345678"),
    ("+52 55 1234 5678", "MX", "+525512345678"),
    ("+5215512345678", "MX", "+525512345678"),
    ("+52 1 33 2345 6789", "MX", "+523323456789"),
    ("044 55 1234 5678", "MX", "+525512345678"),
    ("045 33 2345 6789", "MX", "+523323456789"),
    ("0052 55 1234 5678", "MX", "+525512345678"),
    # Colombia
    ("300 123 4567", "CO", "+573001234567"),
    ("+57 (300) 123-4567", "CO", "+573001234567"),
    # Argentina: the local "15" mobile prefix becomes the international 9
    ("011 15-2345-6789", "AR", "+5491123456789"),
    ("11 15 2345 6789", "AR", "+5491123456789"),
    ("+54 9 11 2345-6789", "AR", "+5491123456789"),
    ("0351 15 412-3456", "AR", "+5493514123456"),
    # Chile
    ("9 8765 4321", "CL", "+56987654321"),
    ("+56 9 8765 4321", "CL", "+56987654321"),
    # Peru
    ("987 654 321", "PE", "+51987654321"),
    ("+51 987654321", "PE", "+51987654321"),
    # a number with its own country code wins over the row's country
    ("+57 300 123 4567", "MX", "+573001234567"),
])
def test_normalises_to_e164(raw: str, country: str, e164: str) -> None:
    assert normalize_phone(raw, country) == e164


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12", "55 1234", "+52 55 1234 56789 12"])
def test_rejects_what_is_not_a_phone(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw, "MX")


def test_sender_ids_follow_the_convention() -> None:
    assert sender_id_for("whatsapp", "+5215512345678") == "whatsapp:+525512345678"
    assert split_sender_id("whatsapp:+5215512345678") == ("whatsapp", "+525512345678")
    assert split_sender_id("sms:+56987654321") == ("sms", "+56987654321")
    with pytest.raises(InvalidPhone):
        split_sender_id("telegram:+56987654321")
    with pytest.raises(ValueError):
        sender_id_for("fax", "+56987654321")
