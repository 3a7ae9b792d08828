"""The demo city's functional departments and its catalogue of request categories (12345 style).

Time limits follow the usual 12345 rules: emergencies reply in 2 h, water, power, gas and heating in 24 h, general
requests in 7 working days, complex ones in 15, consultations in 3 and complaints in 13.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chengzhi.categories.models import HandlerKind, Priority

# (function, name_zh, name_en): departments of the city government.
CITY_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("water", "市水务局", "Water Affairs Bureau"),
    ("power", "国网示范市供电公司", "State Grid Demo City Power Supply Company"),
    ("gas", "市燃气集团", "Demo City Gas Group"),
    ("heating", "市热力公司", "Demo City Heating Company"),
    ("urban_management", "市城市管理和综合执法局", "Urban Management and Law Enforcement Bureau"),
    ("transport", "市交通运输局", "Transport Bureau"),
    ("housing", "市住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    ("environment", "市生态环境局", "Ecology and Environment Bureau"),
    ("market_regulation", "市市场监督管理局", "Market Regulation Administration"),
    ("education", "市教育局", "Education Bureau"),
    ("health", "市卫生健康委员会", "Health Commission"),
    ("human_resources", "市人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("public_security", "市公安局", "Public Security Bureau"),
    ("civil_affairs", "市民政局", "Civil Affairs Bureau"),
    ("natural_resources", "市自然资源和规划局", "Natural Resources and Planning Bureau"),
    ("emergency_management", "市应急管理局", "Emergency Management Bureau"),
    ("culture_tourism", "市文化旅游广电局", "Culture, Tourism, Radio and Television Bureau"),
    ("medical_security", "市医疗保障局", "Medical Security Bureau"),
    ("housing_fund", "市住房公积金管理中心", "Housing Provident Fund Centre"),
    ("landscaping", "市园林绿化局", "Landscaping and Greening Bureau"),
)

# (function, name suffix zh, name suffix en): departments every district government has.
DISTRICT_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("urban_management", "城市管理和综合执法局", "Urban Management and Law Enforcement Bureau"),
    ("housing", "住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    ("market_regulation", "市场监督管理局", "Market Regulation Bureau"),
    ("education", "教育局", "Education Bureau"),
)

LIMITS: dict[str, dict[str, str]] = {
    "emergency": {"sign": "30m", "contact": "1h", "reply": "2h", "review": "1d"},
    "utility": {"sign": "1h", "contact": "4h", "reply": "24h", "review": "1wd"},
    "urgent": {"sign": "1h", "contact": "4h", "reply": "3d", "review": "1wd"},
    "general": {"sign": "2h", "contact": "1d", "reply": "7wd", "review": "1wd"},
    "complaint": {"sign": "2h", "contact": "1d", "reply": "13wd", "review": "1wd"},
    "complex": {"sign": "4h", "contact": "2d", "reply": "15wd", "review": "2wd"},
    "consultation": {"sign": "2h", "contact": "1d", "reply": "3wd", "review": "1wd"},
}

GROUPS: dict[str, tuple[str, str]] = {
    "utilities": ("水电气热", "Water, power, gas and heating"),
    "municipal": ("市政设施", "Municipal facilities"),
    "sanitation": ("市容环卫", "City appearance and sanitation"),
    "environment": ("生态环境", "Environment"),
    "transport": ("交通出行", "Transport"),
    "housing": ("住房与物业", "Housing and property"),
    "market": ("市场监管", "Market regulation"),
    "labour": ("劳动与社保", "Labour and social security"),
    "education_health": ("教育医疗", "Education and health"),
    "civil": ("民政服务", "Civil affairs"),
    "safety": ("公共安全", "Public safety"),
    "community": ("社区事务", "Community affairs"),
    "consultation": ("政策咨询", "Policy questions"),
    "other": ("其他", "Other"),
}

# Monthly volume factors, January first.
SUMMER = (0.6, 0.6, 0.8, 1.0, 1.3, 1.6, 1.9, 1.9, 1.3, 0.9, 0.7, 0.6)
WINTER = (2.4, 1.9, 1.0, 0.3, 0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1.3, 2.2)
RAINY = (0.3, 0.4, 0.9, 1.4, 1.9, 2.2, 1.5, 1.0, 0.6, 0.4, 0.3, 0.3)
SCHOOL = (0.5, 0.6, 0.8, 1.0, 1.3, 2.2, 2.5, 2.5, 1.2, 0.5, 0.4, 0.5)
YEAR_END = (2.0, 1.6, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.8, 0.9, 1.1, 1.8)


def _choice(code: str, description: str, values: dict[str, str], required: bool = False) -> dict[str, Any]:
    return {
        "code": code,
        "datatype": "singlevaluelist",
        "required": required,
        "description": description,
        "values": [{"key": k, "name": v} for k, v in values.items()],
    }


SCOPE = _choice(
    "scope",
    "影响范围 / How far does it reach?",
    {"household": "本户", "building": "整栋楼", "compound": "整个小区", "area": "周边片区"},
    required=True,
)


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name_zh: str
    name_en: str
    group: str
    handler_kind: HandlerKind
    handler_function: str | None = None
    priority: Priority = Priority.normal
    limits: str = "general"
    attributes: tuple[dict[str, Any], ...] = ()
    keywords: str = ""
    service_type: str = "realtime"
    consultation: bool = False  # usually answered by the operator at intake
    weight: float = 1.0  # relative volume
    season: tuple[float, ...] | None = None

    @property
    def complex(self) -> bool:
        return self.limits in ("complex", "complaint")


DEPT = HandlerKind.department
CATEGORIES: tuple[CategorySpec, ...] = (
    # --- water, power, gas, heating: reply in 24 h
    CategorySpec("water_outage", "停水", "Water outage", "utilities", DEPT, "water", Priority.high, "utility",
                 (SCOPE,), "停水,没水,断水", weight=2.0, season=SUMMER),
    CategorySpec("water_quality", "水质异常", "Tap water quality", "utilities", DEPT, "water", limits="utility",
                 keywords="水质,黄水,浑浊,异味"),
    CategorySpec("water_pressure", "水压不足", "Low water pressure", "utilities", DEPT, "water",
                 limits="utility", keywords="水压,水小,高层", season=SUMMER),
    CategorySpec("power_outage", "停电", "Power outage", "utilities", DEPT, "power", Priority.high, "utility",
                 (SCOPE,), "停电,断电,跳闸", weight=1.8, season=SUMMER),
    CategorySpec("power_hazard", "电力线路隐患", "Hazardous power lines", "utilities", DEPT, "power",
                 Priority.high, "utility", keywords="电线,电缆,漏电,电箱"),
    CategorySpec("gas_leak", "燃气泄漏", "Gas leak", "utilities", DEPT, "gas", Priority.emergency, "emergency",
                 keywords="燃气,煤气,泄漏,气味", weight=0.4),
    CategorySpec("gas_supply", "燃气供应", "Gas supply and service", "utilities", DEPT, "gas",
                 limits="utility", keywords="燃气,通气,燃气费,燃气表", season=WINTER),
    CategorySpec("heating", "供暖问题", "Heating problem", "utilities", DEPT, "heating", limits="utility",
                 keywords="暖气,供暖,不热", weight=1.2, season=WINTER),
    # --- municipal facilities
    CategorySpec("road_damage", "道路破损", "Damaged road", "municipal", DEPT, "urban_management",
                 attributes=(_choice("size", "破损面积 / Size of the damage",
                                     {"small": "小于1平方米", "medium": "1至5平方米", "large": "大于5平方米"},
                                     required=True),),
                 keywords="坑洼,路面,塌陷,破损", weight=1.5, season=RAINY),
    CategorySpec("manhole_cover", "井盖缺失破损", "Missing or broken manhole cover", "municipal", DEPT,
                 "urban_management", Priority.high, "utility", keywords="井盖,窨井,下水井", weight=0.6),
    CategorySpec("street_light", "路灯不亮", "Street light out", "municipal", DEPT, "urban_management",
                 attributes=({"code": "lamp_number", "datatype": "string",
                              "description": "路灯杆编号 / Number on the lamp post"},),
                 keywords="路灯,不亮,照明", weight=1.2, season=WINTER),
    CategorySpec("sewer_blockage", "下水道堵塞", "Blocked drain", "municipal", DEPT, "water", Priority.high,
                 "urgent", keywords="下水道,堵塞,污水,返水", weight=1.2),
    CategorySpec("waterlogging", "道路积水", "Waterlogged road", "municipal", DEPT, "urban_management",
                 Priority.high, "utility", keywords="积水,内涝,排水", season=RAINY),
    # --- city appearance and sanitation
    CategorySpec("garbage", "垃圾清运不及时", "Uncollected rubbish", "sanitation", HandlerKind.community,
                 attributes=({"code": "days", "datatype": "number",
                              "description": "已堆放几天 / For how many days"},),
                 keywords="垃圾,清运,异味,堆放", weight=3.0, season=SUMMER),
    CategorySpec("waste_sorting", "垃圾分类", "Waste sorting", "sanitation", HandlerKind.community,
                 priority=Priority.low, keywords="垃圾分类,垃圾桶,厨余"),
    CategorySpec("public_toilet", "公共厕所", "Public toilets", "sanitation", DEPT, "urban_management",
                 keywords="公厕,厕所,卫生", weight=0.6),
    CategorySpec("street_vendor", "占道经营", "Street vendors", "sanitation", DEPT, "urban_management",
                 keywords="占道,摆摊,流动摊贩", weight=1.5, season=SUMMER),
    CategorySpec("illegal_ads", "乱贴小广告", "Flyers and illegal ads", "sanitation", HandlerKind.street,
                 priority=Priority.low, keywords="小广告,张贴,涂写", weight=0.7),
    # --- environment
    CategorySpec("construction_noise", "施工噪音", "Construction noise", "environment", DEPT, "environment",
                 Priority.high, "urgent",
                 (_choice("period", "噪音时段 / When", {"day": "白天（6时至22时）", "night": "夜间（22时至次日6时）"},
                          required=True),),
                 "噪音,施工,夜间施工,扰民", weight=2.0, season=SUMMER),
    CategorySpec("commercial_noise", "商业噪音", "Noise from shops and bars", "environment", DEPT,
                 "urban_management", keywords="噪音,音响,广场舞,扰民", weight=1.5, season=SUMMER),
    CategorySpec("air_pollution", "大气污染", "Air pollution and burning", "environment", DEPT, "environment",
                 keywords="焚烧,烟尘,扬尘,异味", weight=0.8, season=WINTER),
    CategorySpec("water_pollution", "河道污染", "River pollution", "environment", DEPT, "environment",
                 limits="complex", keywords="河道,排污,黑臭水体", weight=0.5, season=SUMMER),
    CategorySpec("cooking_fumes", "餐饮油烟", "Restaurant cooking fumes", "environment", DEPT,
                 "urban_management", keywords="油烟,烧烤,餐馆", weight=1.0, season=SUMMER),
    # --- transport
    CategorySpec("bus_service", "公交服务", "Bus service", "transport", DEPT, "transport",
                 attributes=({"code": "line", "datatype": "string", "description": "线路 / Bus line"},),
                 keywords="公交,线路,班次,司机", weight=1.2),
    CategorySpec("taxi_service", "出租车服务", "Taxi and ride-hailing", "transport", DEPT, "transport",
                 limits="complaint", keywords="出租车,网约车,拒载,绕路", weight=0.6),
    CategorySpec("traffic_signal", "交通信号灯故障", "Traffic signal fault", "transport", DEPT,
                 "public_security", Priority.high, "utility", keywords="红绿灯,信号灯", weight=0.5),
    CategorySpec("illegal_parking", "违章停车", "Illegal parking", "transport", DEPT, "public_security",
                 keywords="停车,占道,堵门,消防通道", weight=1.8),
    CategorySpec("shared_bikes", "共享单车乱停放", "Shared bikes", "transport", DEPT, "urban_management",
                 Priority.low, keywords="共享单车,电单车,乱停", weight=0.6),
    # --- housing and property
    CategorySpec("property_management", "物业服务", "Property management", "housing", HandlerKind.community,
                 keywords="物业,保安,保洁,物业费", weight=2.5),
    CategorySpec("elevator", "电梯故障", "Elevator failure", "housing", DEPT, "market_regulation",
                 Priority.high, "utility",
                 (_choice("trapped", "是否有人被困 / Is anyone trapped?", {"no": "无人被困", "yes": "有人被困"},
                          required=True),),
                 "电梯,故障,困人,停运", weight=1.3),
    CategorySpec("old_housing_renovation", "老旧小区改造", "Renovating old estates", "housing", DEPT,
                 "housing", limits="complex", keywords="老旧小区,改造,加装电梯,管网", weight=0.8),
    CategorySpec("illegal_construction", "违法建设", "Illegal construction", "housing", HandlerKind.street,
                 limits="complex", keywords="违建,私搭乱建,加层,封阳台", weight=1.0),
    CategorySpec("housing_delivery", "商品房交付", "New home delivery", "housing", DEPT, "housing",
                 limits="complex", keywords="交房,延期交付,质量,办证", weight=0.7),
    CategorySpec("rental", "房屋租赁", "Renting disputes", "housing", DEPT, "housing", limits="complaint",
                 keywords="租房,押金,中介,群租", weight=0.7),
    # --- market regulation
    CategorySpec("food_safety", "食品安全", "Food safety", "market", DEPT, "market_regulation", Priority.high,
                 "urgent",
                 ({"code": "purchase_time", "datatype": "datetime",
                   "description": "购买或就餐时间 / When was it bought or eaten"},),
                 "食品,过期,变质,腹泻", weight=1.0),
    CategorySpec("consumer_rights", "消费维权", "Consumer rights", "market", DEPT, "market_regulation",
                 limits="complaint", keywords="退款,预付卡,售后,欺诈", weight=1.6),
    CategorySpec("price", "价格违法", "Pricing violations", "market", DEPT, "market_regulation",
                 limits="complaint", keywords="价格,乱收费,明码标价", weight=0.5),
    # --- labour and social security
    CategorySpec("wage_arrears", "拖欠工资", "Unpaid wages", "labour", DEPT, "human_resources", Priority.high,
                 attributes=({"code": "amount", "datatype": "number", "required": True,
                              "description": "拖欠金额（元）/ Amount owed (yuan)"},
                             {"code": "workers", "datatype": "number",
                              "description": "涉及人数 / Workers affected"}),
                 keywords="欠薪,工资,讨薪,农民工", weight=1.0, season=YEAR_END),
    CategorySpec("social_insurance", "社保政策咨询", "Social insurance questions", "consultation", DEPT,
                 "human_resources", limits="consultation", keywords="社保,养老保险,缴费,转移",
                 consultation=True, weight=1.6),
    CategorySpec("medical_insurance", "医保报销咨询", "Medical insurance questions", "consultation", DEPT,
                 "medical_security", limits="consultation", keywords="医保,报销,异地就医",
                 consultation=True, weight=1.0),
    CategorySpec("household_registration", "户籍业务咨询", "Household registration questions",
                 "consultation", DEPT, "public_security", limits="consultation",
                 keywords="户口,落户,迁移,身份证", consultation=True, weight=0.9),
    CategorySpec("housing_fund", "公积金咨询", "Housing fund questions", "consultation", DEPT, "housing_fund",
                 limits="consultation", keywords="公积金,提取,贷款", consultation=True, weight=0.9),
    CategorySpec("school_enrolment", "入学咨询", "School enrolment", "education_health", DEPT, "education",
                 limits="consultation", keywords="入学,学区,划片,转学", consultation=True, weight=1.0,
                 season=SCHOOL),
    # --- education and health
    CategorySpec("tutoring", "校外培训", "Private tutoring", "education_health", DEPT, "education",
                 limits="complaint", keywords="培训机构,退费,补课", weight=0.6, season=SCHOOL),
    CategorySpec("medical_service", "医疗服务", "Hospital service", "education_health", DEPT, "health",
                 keywords="医院,挂号,医生,收费", weight=0.9),
    # --- civil affairs
    CategorySpec("elderly_care", "养老服务", "Elderly care", "civil", DEPT, "civil_affairs",
                 keywords="养老,老人,助餐,高龄补贴", weight=0.7),
    CategorySpec("social_assistance", "低保与救助", "Subsistence allowance and aid", "civil", DEPT,
                 "civil_affairs", keywords="低保,救助,困难", weight=0.5),
    # --- public safety
    CategorySpec("fire_hazard", "消防隐患", "Fire hazards", "safety", DEPT, "emergency_management",
                 Priority.high, "urgent", keywords="消防,电动车,飞线充电,通道堵塞", weight=0.9),
    CategorySpec("tree_hazard", "树木安全隐患", "Hazardous trees", "safety", DEPT, "landscaping",
                 Priority.high, "utility",
                 ({"code": "problems", "datatype": "multivaluelist",
                   "description": "树木问题 / What is wrong with the tree",
                   "values": [{"key": "leaning", "name": "倾斜"}, {"key": "broken", "name": "断枝"},
                              {"key": "blocking", "name": "遮挡"}, {"key": "pests", "name": "病虫害"}]},),
                 "树木,倒伏,断枝,修剪", weight=0.6, season=RAINY),
    # --- community affairs
    CategorySpec("neighbour_dispute", "邻里纠纷", "Disputes between neighbours", "community",
                 HandlerKind.community, keywords="邻居,漏水,纠纷,噪音", weight=1.2),
    CategorySpec("dogs", "不文明养犬", "Dogs and pets", "community", HandlerKind.community, priority=Priority.low,
                 keywords="养狗,犬只,遛狗,狗叫", weight=0.8),
    CategorySpec("tourism", "旅游市场", "Tourism complaints", "market", DEPT, "culture_tourism",
                 limits="complaint", keywords="景区,导游,门票", weight=0.3),
    # --- other
    CategorySpec("other", "其他事项", "Other matters", "other", HandlerKind.district,
                 keywords="其他", weight=0.8),
    CategorySpec("suggestion", "建言献策", "Suggestions", "other", HandlerKind.district, priority=Priority.low,
                 limits="complex",
                 attributes=({"code": "topic", "datatype": "text", "description": "建议主题 / Topic of the suggestion"},),
                 keywords="建议,意见", service_type="batch", weight=0.5),
)  # fmt: skip

CATEGORY_BY_CODE = {spec.code: spec for spec in CATEGORIES}
