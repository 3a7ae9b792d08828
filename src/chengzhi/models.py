"""Imports every domain's models so that metadata (Alembic, tests) sees all tables."""

from chengzhi.categories.models import Category
from chengzhi.credit.models import (
    CreditAllowedCode,
    CreditEntity,
    CreditEntityName,
    CreditGrade,
    CreditRecord,
)
from chengzhi.db import Base
from chengzhi.generations import cache_generations
from chengzhi.idempotency import IdempotencyRecord
from chengzhi.identity.models import (
    DataRightsEvent,
    DetailSharing,
    DetailView,
    UserIdentity,
    VerificationCode,
)
from chengzhi.jobs.models import JobRun
from chengzhi.knowledge.models import KnowledgeArticle, KnowledgeArticleVersion, KnowledgeUse, KnowledgeVector
from chengzhi.metrics.models import MetricExclusion, RequestFact
from chengzhi.notify.models import Notification, NotificationAttempt, NotificationPreference
from chengzhi.open311.models import (
    Open311Delivery,
    Open311Endpoint,
    Open311InboundUpdate,
    Open311Key,
    Open311Token,
)
from chengzhi.opendata.models import (
    AccessApplication,
    Dataset,
    DatasetTag,
    DatasetVersion,
    PackageDoc,
    Resource,
    UsageDay,
)
from chengzhi.org.models import (
    ApiToken,
    RecoveryCode,
    RoleAssignment,
    SecondFactor,
    Unit,
    User,
    UserSession,
)
from chengzhi.outbound.models import OutboundRecord
from chengzhi.participate.models import (
    Comment,
    CommentReport,
    FocusProgress,
    FocusTopic,
    FocusVote,
    Follow,
)
from chengzhi.publish.models import Publication
from chengzhi.requests.models import (
    ContactView,
    Issue,
    Photo,
    PhotoToken,
    Request,
    RequestEvent,
    RequestSupport,
    RequestUnit,
)
from chengzhi.requests.queue import TriageTask
from chengzhi.routing.classifier_models import CategoryCorrection, ClassifierActivation, ClassifierModel
from chengzhi.routing.triage_models import DuplicateBand, DuplicateSignature, PlaceName, RequestTriage
from chengzhi.warning.models import HotIssue, HotIssueDecision, HotIssueMember, HotTerm
from chengzhi.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "AccessApplication",
    "ApiToken",
    "Base",
    "Category",
    "CategoryCorrection",
    "ClassifierActivation",
    "ClassifierModel",
    "Comment",
    "CommentReport",
    "ContactView",
    "CreditAllowedCode",
    "CreditEntity",
    "CreditEntityName",
    "CreditGrade",
    "CreditRecord",
    "DataRightsEvent",
    "Dataset",
    "DatasetTag",
    "DatasetVersion",
    "DetailSharing",
    "DetailView",
    "DuplicateBand",
    "DuplicateSignature",
    "FocusProgress",
    "FocusTopic",
    "FocusVote",
    "Follow",
    "HotIssue",
    "HotIssueDecision",
    "HotIssueMember",
    "HotTerm",
    "IdempotencyRecord",
    "Issue",
    "JobRun",
    "KnowledgeArticle",
    "KnowledgeArticleVersion",
    "KnowledgeUse",
    "KnowledgeVector",
    "MetricExclusion",
    "Notification",
    "NotificationAttempt",
    "NotificationPreference",
    "Open311Delivery",
    "Open311Endpoint",
    "Open311InboundUpdate",
    "Open311Key",
    "Open311Token",
    "OutboundRecord",
    "PackageDoc",
    "Photo",
    "PhotoToken",
    "PlaceName",
    "Publication",
    "RecoveryCode",
    "Request",
    "RequestEvent",
    "RequestFact",
    "RequestSupport",
    "RequestTriage",
    "RequestUnit",
    "Resource",
    "RoleAssignment",
    "SecondFactor",
    "TriageTask",
    "Unit",
    "UsageDay",
    "User",
    "UserIdentity",
    "UserSession",
    "VerificationCode",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "cache_generations",
]
