"""The leak check itself: it must see a full number in any spelling, and a secret."""

from tests.chaos.harness import SECRETS, leaks

NUMBERS = {"233241000001"}


def test_full_numbers_in_any_form_are_found() -> None:
    for text in ("to 233241000001", "+233241000001", "0241000001", "n=241000001"):
        assert len(leaks([text], NUMBERS, SECRETS)) == 1


def test_masked_numbers_and_other_digits_pass() -> None:
    texts = ["23324****001", "offset 1796111707268", "0241000002", '{"n": 241000009}']
    assert leaks(texts, NUMBERS, SECRETS) == []


def test_the_secret_is_found() -> None:
    assert leaks([f"key={SECRETS[0]}"], set(), SECRETS) != []
