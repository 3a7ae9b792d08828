"""The demo city's knowledge base: one published article per answer its operators give at intake
(texts.ANSWERS), with the questions residents ask, written by the city's departments, and the articles of
knowledge_texts (heating, gas, power, parking, elderly care, consumer rights, ...: a withdrawn one of last year, a
draft, two for foreign residents in English). Deterministic.

The simulation answers consultations with these articles (the answer event names the article and its version)
and records which articles were shown and rejected, so that the knowledge base's report is not empty."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from chengzhi.demo import knowledge_texts, texts
from chengzhi.demo.city import DemoCity
from chengzhi.knowledge import service as knowledge
from chengzhi.knowledge.models import ArticleStatus, KnowledgeArticle
from chengzhi.org.service import ANONYMOUS

# category code -> (answering department's function, the questions of each answer in texts.ANSWERS, in order)
QUESTIONS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "social_insurance": (
        "human_resources",
        (
            ("灵活就业人员怎么交养老保险？", "自由职业怎么参加社保", "个人缴纳养老保险在哪里办理"),
            ("社保关系怎么转移到新城市？", "换城市工作社保怎么转"),
            ("退休手续怎么办理？", "快到退休年龄了要申请什么"),
            ("公司不给交社保怎么办？", "单位没有缴纳社会保险去哪里投诉"),
        ),
    ),
    "medical_insurance": (
        "medical_security",
        (
            ("异地就医怎么备案？", "在外地住院医保能直接报销吗"),
            ("新生儿怎么办理医保？", "刚出生的孩子怎么参保"),
            ("门诊慢特病怎么申请？", "慢性病门诊报销需要什么手续"),
        ),
    ),
    "household_registration": (
        "public_security",
        (
            ("应届毕业生怎么落户？", "大学毕业后户口怎么迁入"),
            ("新生儿怎么上户口？", "孩子出生后入户需要什么材料"),
            ("身份证丢了怎么补办？", "异地可以补办身份证吗"),
        ),
    ),
    "housing_fund": (
        "housing_fund",
        (
            ("租房可以提取公积金吗？", "怎么提取公积金交房租"),
            ("公积金贷款能贷多少？", "买二手房用公积金贷款怎么办理"),
            ("离职后公积金怎么办？", "公积金账户封存了怎么转移或提取"),
        ),
    ),
    "school_enrolment": (
        "education",
        (
            ("孩子上小学怎么报名？", "划片入学的对口学校在哪里查"),
            ("随迁子女入学需要什么材料？", "外地户口孩子在本市上学怎么办"),
            ("转学怎么办理？", "孩子要转学需要什么手续"),
        ),
    ),
}


def add_articles(session: Session, demo: DemoCity, now: dt.datetime) -> dict[str, KnowledgeArticle]:
    """The published articles; category code -> its articles keyed by their answer's text (as the simulation
    fills it, '{district}' being '各区')."""
    found: dict[str, KnowledgeArticle] = {}
    today = now.date()
    for code, (function, questions) in QUESTIONS.items():
        unit = demo.unit(f"city-{function}")
        for n, asked in enumerate(questions):
            answer = texts.ANSWERS[code][n].replace("{district}", "各区")
            article = knowledge.create_article(
                session,
                ANONYMOUS,
                knowledge.ArticleInput(
                    questions=list(asked),
                    answer=answer + "。",
                    unit_id=unit.id,
                    category_code=code,
                    keywords=(),
                    valid_from=today - dt.timedelta(days=365),
                    # One article comes up for review soon: the editors' reminder has something to show.
                    valid_until=today + dt.timedelta(days=20 if (code, n) == ("housing_fund", 0) else 700),
                    source=unit.name_zh,
                ),
                check=False,
            )
            knowledge.set_status_unchecked(session, article, ArticleStatus.published)
            found[f"{code}:{n}"] = article
    for extra in knowledge_texts.ARTICLES:
        unit = demo.unit(f"city-{extra.function}")
        article = knowledge.create_article(
            session,
            ANONYMOUS,
            knowledge.ArticleInput(
                questions=list(extra.questions),
                answer=extra.answer,
                unit_id=unit.id,
                category_code=extra.category,
                keywords=extra.keywords,
                valid_from=None
                if extra.valid_from_days is None
                else today + dt.timedelta(days=extra.valid_from_days),
                valid_until=(
                    None
                    if extra.valid_until_days is None
                    else today + dt.timedelta(days=extra.valid_until_days)
                ),
                source=extra.source,
            ),
            check=False,
        )
        if extra.status != "draft":
            knowledge.set_status_unchecked(session, article, ArticleStatus.published)
        if extra.status == "withdrawn":
            knowledge.set_status_unchecked(session, article, ArticleStatus.withdrawn)
    return found


def article_for(articles: dict[str, KnowledgeArticle], code: str, answer: str) -> KnowledgeArticle | None:
    """The article an operator's answer (texts.compose_answer) was taken from."""
    for n, template in enumerate(texts.ANSWERS.get(code, ())):
        head = template.split("{")[0]
        if head and head in answer:
            return articles.get(f"{code}:{n}")
    return None
