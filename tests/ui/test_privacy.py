"""Masking of e-mail addresses and keyed pseudonyms for viewers."""

from __future__ import annotations

from marketflow.ui.privacy import EMAIL_PATTERN, mask_email, pseudonym, scrub_emails


def test_mask_keeps_only_first_letters_and_the_top_level_domain() -> None:
    assert mask_email("jane.doe@example.co.uk") == "j\u2022\u2022\u2022@e\u2022\u2022\u2022.uk"
    assert "jane" not in mask_email("jane.doe@example.com")


def test_scrub_masks_every_address_in_free_text_and_leaves_the_rest() -> None:
    text = "To: anna+promo@shop.example.org, cc bob_o'neil@mail.example.com; order 536365 shipped."
    scrubbed = scrub_emails(text)
    assert EMAIL_PATTERN.search(scrubbed) is None
    assert "anna" not in scrubbed and "neil" not in scrubbed
    assert scrubbed.endswith("order 536365 shipped.")


def test_masked_addresses_are_not_addresses_any_more() -> None:
    assert EMAIL_PATTERN.search(mask_email("someone@example.com")) is None


def test_pseudonyms_are_stable_per_key_and_differ_across_keys_and_customers() -> None:
    assert pseudonym("17850", b"k1") == pseudonym("17850", b"k1")
    assert pseudonym("17850", b"k1") != pseudonym("17850", b"k2")
    assert pseudonym("17850", b"k1") != pseudonym("17851", b"k1")
    assert "17850" not in pseudonym("17850", b"k1")
