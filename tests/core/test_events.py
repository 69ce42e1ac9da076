import pytest

from ecorec.core.events import Event, EventType, EventValidationError, validate_event


def test_valid_events_pass_and_type_is_normalised():
    event = validate_event(Event("e1", 10.0, "u1", "click", item_id="i1"))  # type: ignore[arg-type]
    assert event.type is EventType.CLICK


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (Event("", 1.0, "u", EventType.CLICK, item_id="i"), "event_id"),
        (Event("e", 1.0, "", EventType.CLICK, item_id="i"), "user_id"),
        (Event("e", 1.0, "u", "teleport", item_id="i"), "type"),  # type: ignore[arg-type]
        (Event("e", float("nan"), "u", EventType.CLICK, item_id="i"), "ts"),
        (Event("e", 1.0, "u", EventType.PLAY, item_id="i"), "value"),
        (Event("e", 1.0, "u", EventType.PLAY, value=3.0), "item_id"),
        (Event("e", 1.0, "u", EventType.BLOCK_CREATOR), "creator_id"),
        (Event("e", 1.0, "u", EventType.CONVERSION, ad_id="a", value=-1.0), "value"),
        (Event("e", 1.0, "u", EventType.SURVEY, value=11.0), "value"),
        (Event("e", 1.0, "u", EventType.IMPRESSION), "item_id"),
        (Event("e", 1.0, "u", EventType.CLICK, item_id="i", position=-1), "position"),
    ],
)
def test_invalid_events_name_the_field(event, field):
    with pytest.raises(EventValidationError) as err:
        validate_event(event)
    assert err.value.field == field
