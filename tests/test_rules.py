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
    # domain.md section 6, Shanwei rule: a city-level (市直) unit, whatever the suspect kind
    # (here none given), goes to the 城区 (441502) labour inspection.
    for suspect_kind in (None, "unit", "individual", "intermediary", "medical_institution"):
        routing = BOOK.route(Facts(category="fake_employment_backpay", region="441500",
                                   suspect_kind=suspect_kind, unit_level="city"))  # fmt: skip
        assert (routing.bureau, routing.handling_region) == ("labor_inspection", "441502")
        assert routing.co_bureaus == ("procuratorate",)
    assert routing.packs == ("shanwei@2025.2", "national@2026.1")
    # A city-level unit reported from a district of 汕尾 (海丰县) is still city-level.
    assert BOOK.route(Facts(category="fake_docs", region="441521", unit_level="city")) \
        .handling_region == "441502"  # fmt: skip
    # Elsewhere the Shanwei pack does not apply at all.
    assert BOOK.route(Facts(category="fake_docs", region="110101")).packs == ("national@2026.1",)


@pytest.mark.parametrize("unit_level", [None, "unknown", "county", "township", "provincial"])
def test_somewhere_in_shanwei_is_not_a_city_level_unit(unit_level: str | None) -> None:
    # 441500 with the level unknown means "somewhere in 汕尾, district unknown": the national
    # rules route it to the city-level office, never to 城区 by the override.
    routing = BOOK.route(Facts(category="fake_employment_backpay", region="441500",
                               suspect_kind="unit", unit_level=unit_level))  # fmt: skip
    assert (routing.bureau, routing.handling_region) == ("labor_inspection", "441500")
    assert routing.source.startswith("domain.md section 2")


@pytest.mark.parametrize(
    ("facts", "lead", "co"),
    [
        # domain.md section 2, default routes with their second bureaus.
        ({"category": "drug_resale"}, "healthcare_security", ("public_security",)),
        ({"category": "benefit_impostor"}, "si_agency", ("labor_inspection",)),
        ({"category": "agency_overpayment"}, "si_agency", ("hrss_admin",)),
        ({"category": "fake_employment_backpay"}, "labor_inspection", ("procuratorate",)),
        ({"category": "work_injury_fraud"}, "labor_inspection", ("si_agency",)),
        ({"category": "fake_docs"}, "labor_inspection", ()),
        ({"category": "fake_treatment"}, "healthcare_security", ()),
        # A staff suspect: discipline inspection alone, sealed, nobody beside it.
        ({"category": "benefit_impostor", "suspect_kind": "agency_staff"},
         "discipline_inspection", ()),
    ],
)  # fmt: skip
def test_lead_and_co_handling_bureaus(facts: dict[str, str], lead: str, co: tuple[str]) -> None:
    for region in ("110101", "441502"):
        routing = BOOK.route(Facts(region=region, **facts))  # type: ignore[arg-type]
        assert (routing.bureau, routing.co_bureaus) == (lead, co)


# A local pack that tries to take medical and maternity insurance from healthcare security.
GRABBING = """{"name": "grab", "version": "1", "scope": "441500", "flags": [], "deadlines": [],
 "routing": [{"when": {"unit_level": ["city"]}, "bureau": "labor_inspection",
              "handling_region": "441502", "source": "s"},
             {"when": {}, "bureau": "si_agency", "source": "catch-all"}]}"""


@pytest.mark.parametrize(
    "facts",
    [
        {"category": "benefit_impostor", "fund": "medical", "unit_level": "city"},
        {"category": "fake_docs", "fund": "maternity", "unit_level": "city"},
        {"category": "double_compensation", "fund": "medical"},
        {"category": "fake_treatment", "unit_level": "city", "suspect_kind": "unit"},
        {"category": "pooled_account_swipe"},
        {"category": "drug_resale", "fund": "pension", "unit_level": "city"},
    ],
)
def test_no_pack_takes_medical_or_maternity_from_healthcare_security(
    facts: dict[str, str],
) -> None:
    # domain.md sections 1 and 6 (医保条例 art.35): enforced by the engine, not the pack.
    national = next(pack for pack in shipped_packs() if pack.scope == "national")
    for book in (BOOK, RuleBook((national, load_pack(GRABBING)))):
        routing = book.route(Facts(region="441500", **facts))  # type: ignore[arg-type]
        assert routing.bureau == "healthcare_security", (facts, routing)
    # Even with a national pack that names no healthcare rule at all.
    bare = RuleBook((load_pack(GRABBING.replace('"441500"', '"national"')),))
    assert bare.route(Facts(region="441500", **facts)).bureau == (  # type: ignore[arg-type]
        "healthcare_security"
    )
    # The grabbing pack still routes what is not medical.
    grabbed = RuleBook((national, load_pack(GRABBING))).route(
        Facts(category="fake_docs", region="441500", fund="pension", unit_level="city")
    )
    assert (grabbed.bureau, grabbed.handling_region) == ("labor_inspection", "441502")


@pytest.mark.parametrize(
    "when", ['{"fund": ["medical"]}', '{"fund": ["maternity", "medical"]}',
             '{"category": ["fake_treatment"]}'],
)  # fmt: skip
def test_a_rule_only_for_medical_tips_must_lead_to_healthcare_security(when: str) -> None:
    rule = f'{{"when": {when}, "bureau": "labor_inspection", "source": "s"}}'
    text = ('{"name": "x", "version": "1", "scope": "441500", "flags": [], "deadlines": [],'
            f' "routing": [{rule}]}}')  # fmt: skip
    with pytest.raises(RulePackError, match="routing/0: medical"):
        load_pack(text)
    load_pack(text.replace("labor_inspection", "healthcare_security"))


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ('"bureau": "si_agency", "co_bureaus": ["si_agency"]', "lead bureau"),
        ('"bureau": "discipline_inspection", "sealed": true, "co_bureaus": ["si_agency"]',
         "sealed"),
        ('"bureau": "si_agency", "co_bureaus": ["mayor"]', "routing/0/co_bureaus/0"),
        ('"bureau": "si_agency", "co_bureaus": ["court", "court"]', "routing/0/co_bureaus"),
    ],
)  # fmt: skip
def test_co_handling_bureaus_are_validated(rule: str, match: str) -> None:
    with pytest.raises(RulePackError, match=match):
        body = f'{{"when": {{}}, {rule}, "source": "s"}}'
        load_pack('{"name": "x", "version": "1", "scope": "national", "flags": [],'
                  f' "deadlines": [], "routing": [{body}]}}')  # fmt: skip


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
        ("T1", 5, "working_days", "national@2026.1"),
        ("T2", 10, "working_days", "national@2026.1"),
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


def test_a_sealing_rule_seals_medical_tips_too() -> None:
    # The medical override (domain.md section 6) keeps tips with healthcare security, but a
    # pack's sealing rule (domain.md section 2, discipline inspection alone) still applies.
    national = next(pack for pack in shipped_packs() if pack.scope == "national")
    sealing = load_pack(
        '{"name": "seal", "version": "1", "scope": "441500", "flags": [], "deadlines": [],'
        ' "routing": [{"when": {"fund": ["medical"], "unit_level": ["city"]},'
        ' "bureau": "discipline_inspection", "sealed": true, "source": "s"}]}'
    )
    book = RuleBook((national, sealing))
    routing = book.route(Facts(category="fake_treatment", region="441502", fund="medical",
                               unit_level="city"))  # fmt: skip
    assert (routing.bureau, routing.sealed) == ("discipline_inspection", True)
    other = book.route(Facts(category="fake_treatment", region="441502", fund="medical"))
    assert (other.bureau, other.sealed) == ("healthcare_security", False)
