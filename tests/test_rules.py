"""Rule packs: validated at load, the most specific applies, staff tips are sealed first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tipline.intake.rules import Facts, RuleBook, RulePackError, load_pack, shipped_packs

BOOK = RuleBook(shipped_packs())


def route(**facts: object) -> tuple[str, str, bool, tuple[str, ...]]:
    routing = BOOK.route(Facts(**facts))  # type: ignore[arg-type]
    return routing.bureau, routing.handling_region, routing.sealed, routing.flags


def test_national_defaults_follow_domain_section_2() -> None:
    assert route(category="benefit_impostor", region="110101")[:2] == ("si_agency", "110101")
    assert route(category="fake_treatment", region="110101")[0] == "healthcare_security"
    assert route(category="work_injury_fraud", region="110101")[0] == "labor_inspection"
    assert route(category="double_compensation", region="110101", fund="work_injury")[0] == (
        "labor_inspection"
    )
    assert route(category="double_compensation", region="110101", fund="medical")[0] == (
        "healthcare_security"
    )


def test_staff_suspects_are_sealed_to_discipline_inspection_everywhere() -> None:
    for region in ("110101", "441500", "441502"):
        bureau, _, sealed, _ = route(
            category="benefit_impostor", region=region, suspect_kind="agency_staff"
        )
        assert (bureau, sealed) == ("discipline_inspection", True)
    assert route(category="internal_embezzlement", region="441500")[2]


def test_shanwei_city_units_go_to_chengqu_labour_inspection() -> None:
    routing = BOOK.route(
        Facts(category="fake_employment_backpay", region="441500", suspect_kind="unit")
    )
    assert (routing.bureau, routing.handling_region) == ("labor_inspection", "441502")
    assert routing.packs == ("shanwei@2025.1", "national@2025.2")
    # A unit of a county (海丰县) is not a city-level unit: the national rule applies.
    other = BOOK.route(
        Facts(category="fake_employment_backpay", region="441521", suspect_kind="unit")
    )
    assert other.handling_region == "441521"
    # Elsewhere the Shanwei pack does not apply at all.
    assert BOOK.route(Facts(category="fake_docs", region="110101")).packs == ("national@2025.2",)


def test_flags_from_the_amount() -> None:
    assert route(category="benefit_impostor", region="110101", amount=Decimal(2999))[3] == ()
    assert route(category="benefit_impostor", region="110101", amount=Decimal(3000))[3] == (
        "criminal_referral_candidate",
    )
    assert route(category="internal_embezzlement", region="110101", amount=Decimal(10000))[3] == (
        "serious_embezzlement",
    )
    assert set(
        route(category="internal_embezzlement", region="110101", amount=Decimal(30000))[3]
    ) == {"serious_embezzlement", "large_embezzlement"}


def test_deadlines_come_from_the_pack() -> None:
    rules = BOOK.deadlines(Facts(category="fake_docs", region="441502", wants_notice=True))
    assert [(d.rule, d.amount, d.unit, d.pack) for d in rules] == [
        ("T1", 5, "working_days", "national@2025.2"),
        ("T2", 10, "working_days", "national@2025.2"),
    ]
    assert [d.rule for d in BOOK.deadlines(Facts(category="fake_docs", region="441502"))] == ["T1"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{", "not JSON"),
        ('{"name": "x"}', "(top)"),
        (
            '{"name": "x", "version": "1", "scope": "national", "flags": [], "deadlines": [],'
            ' "routing": [{"when": {"category": ["nope"]}, "bureau": "si_agency", "source": "s"}]}',
            "routing/0/when/category/0",
        ),
        (
            '{"name": "x", "version": "1", "scope": "national", "flags": [], "deadlines": [],'
            ' "routing": [{"when": {}, "bureau": "mayor", "source": "s"}]}',
            "routing/0/bureau",
        ),
    ],
)
def test_invalid_packs_are_refused_with_the_place(text: str, where: str) -> None:
    with pytest.raises(RulePackError, match=where.replace("(", r"\(").replace(")", r"\)")):
        load_pack(text)


def test_a_book_needs_a_national_pack() -> None:
    local = [pack for pack in shipped_packs() if pack.scope != "national"]
    with pytest.raises(RulePackError, match="national"):
        RuleBook(tuple(local))


def test_no_pack_can_unseal_staff_tips() -> None:
    national = next(pack for pack in shipped_packs() if pack.scope == "national")
    unsealing = RuleBook(
        (
            national.__class__(
                name="national", version="x", scope="national",
                routing=({"when": {}, "bureau": "hrss_fund_supervision", "source": "s"},),
                flags=(), deadlines=(),
            ),
        )
    )  # fmt: skip
    routing = unsealing.route(Facts(category="fake_docs", region="441502",
                                    suspect_kind="agency_staff"))  # fmt: skip
    assert (routing.bureau, routing.sealed) == ("discipline_inspection", True)
    with pytest.raises(RulePackError, match="sealed"):
        load_pack(
            '{"name": "x", "version": "1", "scope": "national", "flags": [], "deadlines": [],'
            ' "routing": [{"when": {}, "bureau": "si_agency", "sealed": true, "source": "s"}]}'
        )
