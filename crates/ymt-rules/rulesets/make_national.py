#!/usr/bin/env python3
"""Writes cn-national.json, the default national rule set.

The JSON file is the published artifact; this script only exists because
CertLogic is verbose to write by hand. Run it after editing and commit both:
    python3 crates/ymt-rules/rulesets/make_national.py
"""
import json
import os

def var(path): return {"var": path}
def plus(instant, amount, unit): return {"plusTime": [instant, amount, unit]}
def eq(a, b): return {"===": [a, b]}
def and_(*xs): return {"and": list(xs)}
def or_(a, b): return {"if": [a, True, b]}
def not_(x): return {"!": [x]}
def before(a, b): return {"before": [a, b]}
def not_before(a, b): return {"not-before": [a, b]}

NOW = var("now")

def exists(list_path, predicate):
    """True when some element of the list satisfies the predicate.

    CertLogic has no `some`; a reduce with an `if` as "or" expresses it. Inside
    the predicate, `current` is the element and `data` the enclosing context.
    """
    return {"reduce": [var(list_path), or_(var("accumulator"), predicate), False]}

def now_within(start, end):
    """start <= now < end: the half-open window a timed rule is in force."""
    return and_(not_before(NOW, start), before(NOW, end))

def negative_pcr(current):
    return and_(eq(var(current + ".test"), "pcr"), eq(var(current + ".result"), "negative"))

def two_negative_pcr_apart(after_instant_path, gap_param):
    """Two negative PCR tests sampled at or after an instant, the second at
    least `gap_param` hours after the first. Checking pairs against the
    earliest qualifying test would suffice, but a nested reduce keeps the
    logic to plain booleans."""
    return exists("facts.tests", and_(
        negative_pcr("current"),
        not_before(var("current.sampledAt"), var(after_instant_path)),
        exists("data.facts.tests", and_(
            negative_pcr("current"),
            not_before(var("current.sampledAt"),
                       plus(var("data.current.sampledAt"), var("params." + gap_param), "hour")),
        )),
    ))

def negative_pcr_on_day(day_start, day_end):
    return exists("facts.tests", and_(
        negative_pcr("current"),
        not_before(var("current.sampledAt"), day_start),
        before(var("current.sampledAt"), day_end),
    ))

def text(zh, en): return {"zh-CN": zh, "en": en}

designated = var("item.designatedAt")
# Inside a reduce over tests the rule's item is one level up.
designated_in_reduce = var("data.item.designatedAt")
quarantine_end_in_reduce = plus(designated_in_reduce, var("params.closeContactQuarantineDays"), "day")

close_contact_required_tests = and_(
    negative_pcr_on_day(designated_in_reduce, plus(designated_in_reduce, 1, "day")),
    negative_pcr_on_day(plus(designated_in_reduce, 1, "day"), plus(designated_in_reduce, 2, "day")),
    negative_pcr_on_day(plus(designated_in_reduce, 2, "day"), plus(designated_in_reduce, 3, "day")),
    negative_pcr_on_day(plus(designated_in_reduce, 4, "day"), plus(designated_in_reduce, 5, "day")),
    # The last day of quarantine (day 7, or day 5 under a 5-day profile).
    negative_pcr_on_day(plus(quarantine_end_in_reduce, -1, "day"), quarantine_end_in_reduce),
    # The last day of home monitoring, or any later day as a catch-up.
    exists("facts.tests", and_(
        negative_pcr("current"),
        not_before(var("current.sampledAt"),
                   plus(plus(quarantine_end_in_reduce, var("params.closeContactMonitoringDays"), "day"), -1, "day")),
    )),
)

SOURCE_PLAN = "新型冠状病毒肺炎防控方案（第九版）, 2022-06-28 (shared/domain.md, 'The national plan, 9th edition')"

rules = [
    {
        "id": "CN-CASE-01",
        "color": "red",
        "over": "tests",
        "description": text("核酸检测阳性：确诊或无症状感染者，隔离治疗中。",
                             "Positive PCR test: a confirmed or asymptomatic case, in isolation."),
        "clears": text("两次核酸检测阴性（采样间隔不少于{caseClearanceTestGapHours}小时，均在阳性采样之后）后转为绿码。",
                       "Turns green after two negative PCR tests sampled after the positive one, at least {caseClearanceTestGapHours} h apart."),
        "source": SOURCE_PLAN + "; discharge criterion: two negative tests more than 24 h apart",
        "logic": and_(
            eq(var("item.test"), "pcr"),
            eq(var("item.result"), "positive"),
            not_(exists("facts.tests", and_(
                negative_pcr("current"),
                not_before(var("current.sampledAt"), var("data.item.sampledAt")),
                exists("data.facts.tests", and_(
                    negative_pcr("current"),
                    not_before(var("current.sampledAt"),
                               plus(var("data.current.sampledAt"), var("params.caseClearanceTestGapHours"), "hour")),
                )),
            ))),
        ),
    },
    {
        "id": "CN-ANTIGEN-01",
        "color": "yellow",
        "over": "tests",
        "description": text("抗原检测阳性，待核酸复核。", "Positive antigen test, awaiting a PCR check."),
        "clears": text("抗原采样之后的一次核酸检测阴性即转为绿码。",
                       "Turns green after one negative PCR test sampled after the antigen test."),
        "source": SOURCE_PLAN + "; antigen positives are confirmed by PCR",
        "logic": and_(
            eq(var("item.test"), "antigen"),
            eq(var("item.result"), "positive"),
            not_(exists("facts.tests", and_(
                negative_pcr("current"),
                not_before(var("current.sampledAt"), var("data.item.sampledAt")),
            ))),
        ),
    },
    {
        "id": "CN-CLOSE-01",
        "color": "red",
        "over": "contacts",
        "description": text("密切接触者：集中隔离医学观察{closeContactQuarantineDays}天。",
                            "Close contact: {closeContactQuarantineDays} days of centralised quarantine."),
        "clears": text("自判定起{closeContactQuarantineDays}天后转为黄码（居家健康监测）。",
                       "Turns yellow (home health monitoring) {closeContactQuarantineDays} days after the designation."),
        "source": SOURCE_PLAN + "; close contacts: 7 days centralised quarantine",
        "logic": and_(
            eq(var("item.kind"), "close"),
            now_within(designated, plus(designated, var("params.closeContactQuarantineDays"), "day")),
        ),
    },
    {
        "id": "CN-CLOSE-02",
        "color": "yellow",
        "over": "contacts",
        "description": text("密切接触者：居家健康监测{closeContactMonitoringDays}天，或规定日的核酸检测尚未齐全。",
                            "Close contact: {closeContactMonitoringDays} days of home health monitoring, or the tests on the required days are not all in."),
        "clears": text("监测期满且隔离第1、2、3、5天、最后一天及监测最后一天（或之后）的核酸均为阴性后转为绿码。",
                       "Turns green when monitoring has ended and negative PCR tests exist for quarantine days 1, 2, 3, 5 and the last, and for the last monitoring day (or later)."),
        "source": SOURCE_PLAN + "; PCR on quarantine days 1, 2, 3, 5, 7 and on day 3 of home monitoring",
        "logic": and_(
            eq(var("item.kind"), "close"),
            not_before(NOW, plus(designated, var("params.closeContactQuarantineDays"), "day")),
            or_(
                before(NOW, plus(plus(designated, var("params.closeContactQuarantineDays"), "day"),
                                 var("params.closeContactMonitoringDays"), "day")),
                not_(close_contact_required_tests),
            ),
        ),
    },
    {
        "id": "CN-SECONDARY-01",
        "color": "yellow",
        "over": "contacts",
        "description": text("密接的密接：居家隔离医学观察{secondaryContactQuarantineDays}天。",
                            "Contact of a close contact: {secondaryContactQuarantineDays} days of home quarantine."),
        "clears": text("自判定起{secondaryContactQuarantineDays}天后转为绿码。",
                       "Turns green {secondaryContactQuarantineDays} days after the designation."),
        "source": SOURCE_PLAN + "; contacts of close contacts: 7 days home quarantine",
        "logic": and_(
            eq(var("item.kind"), "secondary"),
            now_within(designated, plus(designated, var("params.secondaryContactQuarantineDays"), "day")),
        ),
    },
    {
        "id": "CN-COMPANION-01",
        "color": "yellow",
        "over": "contacts",
        "description": text("时空伴随者：曾与病例在同一场所停留时间重叠。",
                            "Spatiotemporal companion: a venue stay overlapped a case's stay."),
        "clears": text("最后一次暴露之后两次核酸阴性（采样间隔不少于{companionTestGapHours}小时）即转为绿码。",
                       "Turns green after two negative PCR tests sampled after the last exposure, at least {companionTestGapHours} h apart."),
        "source": "Chengdu's companion rule (yellow, then green after 2 negative tests 24 h apart), shared/domain.md; exact venue stays replace grid cells",
        "logic": and_(
            eq(var("item.kind"), "companion"),
            not_before(NOW, designated),
            not_(two_negative_pcr_apart("data.item.lastExposureAt", "companionTestGapHours")),
        ),
    },
    {
        "id": "CN-HIGH-RISK-01",
        "color": "yellow",
        "over": "riskExposures",
        "description": text("曾在高风险区划定期间停留。", "Stayed in a high-risk area while it was designated."),
        "clears": text("离开（或解除划定）{highRiskStayYellowDays}天后转为绿码。",
                       "Turns green {highRiskStayYellowDays} days after leaving the area (or after its designation ended)."),
        "source": SOURCE_PLAN + "; travellers from a high-risk area within 7 days",
        "logic": and_(
            eq(var("item.level"), "high"),
            now_within(var("item.from"), plus(var("item.until"), var("params.highRiskStayYellowDays"), "day")),
        ),
    },
    {
        "id": "CN-MEDIUM-RISK-01",
        "color": "yellow",
        "over": "riskExposures",
        "description": text("曾在中风险区划定期间停留。", "Stayed in a medium-risk area while it was designated."),
        "clears": text("离开（或解除划定）{mediumRiskStayYellowDays}天后转为绿码。",
                       "Turns green {mediumRiskStayYellowDays} days after leaving the area (or after its designation ended)."),
        "source": SOURCE_PLAN + "; travellers from a medium-risk area: 7 days at home",
        "logic": and_(
            eq(var("item.level"), "medium"),
            now_within(var("item.from"), plus(var("item.until"), var("params.mediumRiskStayYellowDays"), "day")),
        ),
    },
    {
        "id": "CN-QUARANTINE-01",
        "color": "red",
        "over": "quarantines",
        "description": text("正在集中隔离。", "In centralised quarantine."),
        "clears": text("隔离期结束时转为绿码。", "Turns green when the quarantine period ends."),
        "source": SOURCE_PLAN,
        "logic": and_(eq(var("item.kind"), "centralised"), now_within(var("item.start"), var("item.end"))),
    },
    {
        "id": "CN-QUARANTINE-02",
        "color": "yellow",
        "over": "quarantines",
        "description": text("正在居家隔离。", "In home quarantine."),
        "clears": text("隔离期结束时转为绿码。", "Turns green when the quarantine period ends."),
        "source": SOURCE_PLAN,
        "logic": and_(eq(var("item.kind"), "home"), now_within(var("item.start"), var("item.end"))),
    },
    {
        "id": "CN-OVERRIDE-RED",
        "color": "red",
        "over": "overrides",
        "description": text("卫生健康部门人工赋红码（理由及责任人见证据）。",
                             "A health authority set the code to red (reason and author in the evidence)."),
        "clears": text("到期自动解除；可申诉。", "Ends automatically at its end time; it can be appealed."),
        "source": "Overrides are visible, attributed and appealable: the Zhengzhou 2022 lesson, shared/domain.md",
        "logic": and_(eq(var("item.color"), "red"), now_within(var("item.from"), var("item.until"))),
    },
    {
        "id": "CN-OVERRIDE-YELLOW",
        "color": "yellow",
        "over": "overrides",
        "description": text("卫生健康部门人工赋黄码（理由及责任人见证据）。",
                             "A health authority set the code to yellow (reason and author in the evidence)."),
        "clears": text("到期自动解除；可申诉。", "Ends automatically at its end time; it can be appealed."),
        "source": "Overrides are visible, attributed and appealable: the Zhengzhou 2022 lesson, shared/domain.md",
        "logic": and_(eq(var("item.color"), "yellow"), now_within(var("item.from"), var("item.until"))),
    },
]

def param(default, minimum, maximum, unit, zh, en):
    return {"default": default, "min": minimum, "max": maximum, "unit": unit,
            "description": text(zh, en)}

rule_set = {
    "kind": "rule-set",
    "id": "cn-national",
    "version": "1.0.0",
    "validFrom": "2022-06-28T00:00:00Z",
    "description": text("全国统一健康码规则（依据防控方案第九版）",
                        "National health-code rules (after the national prevention plan, 9th edition)"),
    "parameters": {
        "closeContactQuarantineDays": param(7, 5, 7, "day", "密接集中隔离天数", "Close-contact centralised quarantine, days"),
        "closeContactMonitoringDays": param(3, 0, 3, "day", "密接居家健康监测天数", "Close-contact home health monitoring, days"),
        "secondaryContactQuarantineDays": param(7, 0, 7, "day", "密接的密接居家隔离天数", "Contact-of-close-contact home quarantine, days"),
        "highRiskStayYellowDays": param(7, 5, 7, "day", "高风险区停留后黄码天数", "Yellow days after a high-risk-area stay"),
        "mediumRiskStayYellowDays": param(7, 0, 7, "day", "中风险区停留后黄码天数", "Yellow days after a medium-risk-area stay"),
        "companionTestGapHours": param(24, 24, 48, "hour", "时空伴随者两次核酸最小间隔（小时）", "Minimum gap between a companion's two negative tests, hours"),
        "caseClearanceTestGapHours": param(24, 24, 48, "hour", "病例解除两次核酸最小间隔（小时）", "Minimum gap between a case's two clearing tests, hours"),
        # Automatic tracing reads these (ymt-server tracing_service.rs); no
        # rule does. A region may trace less widely than the nation, not more.
        "tracingLookbackDays": param(4, 2, 4, "day", "自动流调：采样前追溯天数", "Automatic tracing: days before sampling whose stays are traced"),
        "tracingCompanionMinOverlapMinutes": param(15, 10, 120, "minute", "自动流调：时空伴随最短重叠（分钟）", "Automatic tracing: least overlap that makes a spatiotemporal companion, minutes"),
        "tracingCloseContactIndoorMinOverlapMinutes": param(30, 15, 240, "minute", "自动流调：室内密接最短重叠（分钟）", "Automatic tracing: least indoor overlap that makes a close contact, minutes"),
        "tracingCloseContactOutdoorMinOverlapMinutes": param(240, 120, 1440, "minute", "自动流调：室外密接最短重叠（分钟）", "Automatic tracing: least outdoor overlap that makes a close contact, minutes"),
        "tracingSecondaryLookbackDays": param(2, 0, 2, "day", "自动流调：次密接追溯天数（0 为不追溯）", "Automatic tracing: days before a close contact's designation traced for secondary contacts (0: none)"),
    },
    "rules": rules,
}

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "cn-national.json"), "w", encoding="utf-8") as out:
    json.dump(rule_set, out, ensure_ascii=False, indent=1)
    out.write("\n")
