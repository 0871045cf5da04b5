from crmsync.connectors.ids import id_spellings


def test_a_salesforce_id_as_its_screens_show_it_is_also_its_api_form() -> None:
    assert id_spellings("003dM0000000001") == ["003dM0000000001", "003dM0000000001QAA"]


def test_other_ids_have_one_spelling() -> None:
    for ident in ("003dM0000000001QAA", "100000000002", "0d15ea5e-0000-4000-8000-000000000002", "not an id 15 ch"):
        assert id_spellings(ident) == [ident]
