"""The demo city's knowledge base beyond the intake answers (knowledge.QUESTIONS): articles written as a city's
departments write them for the 12345 hotline, with several phrasings of each question, keywords, the source
document, validity dates where a policy has them, and a few in English for foreign residents. Invented for the
demo city (示范市): no real city's policy is quoted; figures are plausible, not sourced.

Each entry: category code, answering department's function, questions, answer, keywords, source, and the
validity in days from today (None: open), or the status it is left in ("withdrawn", "draft")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoArticle:
    category: str | None
    function: str
    questions: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...]
    source: str
    valid_from_days: int | None = -300  # days from today
    valid_until_days: int | None = None
    status: str = "published"  # or "withdrawn", "draft"


ARTICLES: tuple[DemoArticle, ...] = (
    DemoArticle(
        "heating",
        "heating",
        ("今年什么时候开始供暖？", "供暖季是几号到几号", "暖气几号来", "集中供暖起止时间"),
        "本市2026—2027年度供暖季为11月15日至次年3月15日，遇气温持续偏低时经市政府批准可提前或延长供暖，"
        "提前或延长的时间以市城市管理部门发布的通知为准。供暖开始前一周为试运行期，管网注水、排气期间暖气"
        "时冷时热属正常现象；试运行结束后仍不热的，请拨打供热单位服务电话或12345报修。",
        ("供暖季", "供暖时间", "试运行", "暖气"),
        "市城市管理委员会《关于做好2026—2027年度供暖工作的通知》",
        valid_from_days=-40,
        valid_until_days=100,
    ),
    DemoArticle(
        "heating",
        "heating",
        ("暖气不热室温不达标怎么办？", "家里暖气温度太低找谁", "室温只有十五度能投诉吗", "暖气片上热下凉"),
        "供暖期间居室温度应不低于18℃。室温不达标的，先检查户内阀门是否全开、暖气片是否需要排气；"
        "仍不达标的，可向所属供热单位报修，供热单位应在24小时内上门测温（测温点在室内中央距地面1.5米处，"
        "关闭门窗30分钟后测量）。经测温不达标的，按供热合同约定退还相应热费；对处理结果有异议的，"
        "可拨打12345反映，由区城市管理部门督促处理。",
        ("室温", "不热", "测温", "18度", "退费"),
        "市热力公司《供热服务承诺》",
    ),
    DemoArticle(
        "heating",
        "civil_affairs",
        ("低保家庭有取暖补贴吗？", "困难家庭冬季取暖补助怎么申请", "供暖费减免政策"),
        "本市城乡低保、特困供养和低收入家庭可享受冬季取暖补贴，标准按住房建筑面积计算，每户每个供暖季"
        "最高补贴1,600元。符合条件的家庭无需重复申请，由区民政部门根据救助名单于每年12月底前发放至救助"
        "金账户；新纳入救助的家庭，可到户籍所在地街道（乡镇）社会救助窗口申请补发。",
        ("取暖补贴", "低保", "供暖费", "减免"),
        "市民政局、市财政局《关于困难群众冬季取暖补贴的通知》",
        valid_until_days=400,
    ),
    DemoArticle(
        "heating",
        "heating",
        ("2025年供暖费标准是多少？", "供暖费多少钱一平米"),
        "2025—2026年度居民供暖费标准为每建筑平方米24元，缴费截止日期为2025年11月10日。",
        ("供暖费", "收费标准"),
        "市发展改革委价格通知（已由新一年度通知替代）",
        valid_from_days=-400,
        valid_until_days=-30,
        status="withdrawn",
    ),
    DemoArticle(
        "gas_supply",
        "gas",
        ("燃气卡怎么充值？", "IC卡燃气表没气了在哪里买气", "天然气可以网上交费吗", "燃气费在哪交"),
        "使用IC卡燃气表的居民可通过“示范燃气”微信公众号、燃气集团App或合作银行网点充值，线上充值后需持卡到"
        "营业厅自助终端或使用带NFC功能的手机写卡；物联网燃气表线上缴费即时到账，无需写卡。卡表余量低于"
        "10立方米时表具会提示，请及时购气。燃气卡丢失可携带户主身份证到任一燃气营业厅补卡，工本费20元。",
        ("燃气卡", "充值", "购气", "IC卡", "补卡"),
        "市燃气集团《居民用户服务指南》",
    ),
    DemoArticle(
        "gas_supply",
        "gas",
        ("燃气公司入户安检是真的吗？", "有人敲门说要查燃气安全", "燃气安检收费吗"),
        "燃气集团每两年对居民用户免费入户安检一次，安检人员统一着工装、佩戴工作证，可拨打燃气集团客服电话"
        "核实身份。安检不收取任何费用，也不推销报警器、软管等产品；如遇上门推销或收费的，请勿付款并拨打"
        "110或12345反映。发现燃气泄漏，请立即关闭阀门、打开门窗，不要开关电器，到室外拨打燃气抢修电话。",
        ("燃气安检", "入户检查", "推销", "收费", "泄漏"),
        "市燃气集团《安全用气须知》",
    ),
    DemoArticle(
        "water_outage",
        "water",
        ("停水通知在哪里查？", "小区突然停水了什么时候来水", "计划停水会提前通知吗"),
        "计划性停水由供水企业提前24小时在小区公告栏、市水务局网站“停水公告”栏目和供水服务公众号发布；"
        "突发爆管抢修的停水，恢复时间以抢修进度为准，一般不超过24小时，超过12小时的由供水企业安排送水车。"
        "小区内部二次供水设施（水箱、加压泵）故障造成的停水，请先联系物业；物业无法处理的，可拨打12345。",
        ("停水", "停水公告", "来水时间", "二次供水", "送水车"),
        "市水务局《城市供水服务规范》",
    ),
    DemoArticle(
        "power_outage",
        "power",
        ("家里停电了怎么查是不是计划停电？", "停电多久能恢复", "电费欠费停电了怎么恢复供电"),
        "计划停电信息提前7天通过供电公司网站、“网上国网”App和小区公告发布，可输入户号查询。"
        "如只有自家停电，请先检查户内空气开关和电表箱；整栋楼或整个小区停电的，可拨打95598报修，"
        "城区抢修人员一般在45分钟内到达。因欠费停电的，在“网上国网”App缴清电费后通常24小时内自动复电。",
        ("停电", "计划停电", "95598", "复电", "欠费"),
        "国网示范市供电公司《供电服务十项承诺》",
    ),
    DemoArticle(
        "illegal_parking",
        "public_security",
        ("小区门口有车乱停怎么举报？", "车被别人堵住了怎么办", "挪车电话是多少"),
        "车辆被堵可通过“交管12123”App使用“一键挪车”功能，系统将以短信和电话通知车主，一般10分钟内处理；"
        "联系不上车主的，可拨打122请交警到场。道路上的违法停车可通过“交管12123”App“随手拍”举报，"
        "需上传能看清号牌的照片和位置。小区内部道路停车属物业管理范围，请先联系物业协调。",
        ("挪车", "违章停车", "12123", "随手拍", "堵车"),
        "市公安局交通管理局",
    ),
    DemoArticle(
        "household_registration",
        "public_security",
        ("居住证怎么办理？", "外地人在本市办居住证需要什么材料", "居住证多久能拿到", "居住证签注"),
        "在本市居住满半年，且有合法稳定就业、合法稳定住所或连续就读条件之一的，可到居住地派出所或社区服务"
        "站申领居住证，需携带居民身份证、近期证件照（或现场采集）、住所证明（房产证或租赁合同）和就业或就读"
        "证明。材料齐全的15个工作日内制证。居住证每年签注一次，可在“示范政务”App线上签注。",
        ("居住证", "签注", "暂住证", "租赁合同"),
        "市公安局人口管理总队",
    ),
    DemoArticle(
        "elderly_care",
        "civil_affairs",
        ("老年卡怎么办？", "60岁以上老人乘公交免费吗", "老年人优待卡在哪里申请"),
        "年满60周岁的本市户籍老年人和持本市居住证的常住老年人，可凭身份证在社区服务站或“示范政务”App申办"
        "老年人优待卡，凭卡免费乘坐本市地面公交、免费游览政府投资的公园。65周岁以上的另享每月100元养老助餐"
        "补贴，80周岁以上的高龄津贴按月发放至优待卡。",
        ("老年卡", "优待卡", "免费乘车", "高龄津贴"),
        "市民政局《老年人优待办法》",
    ),
    DemoArticle(
        "elderly_care",
        "civil_affairs",
        ("附近有老年餐桌吗？", "社区养老服务驿站能提供什么服务", "老人没人做饭怎么办"),
        "各街道设有社区养老服务驿站，提供助餐、助浴、日间照料和上门探访服务。在“示范政务”App“养老服务地图”"
        "中可按地址查找最近的驿站和老年餐桌，持老年人优待卡就餐可使用助餐补贴。行动不便的老人可由家属联系"
        "驿站申请送餐上门，配送费由街道补贴。",
        ("养老驿站", "老年餐桌", "助餐", "送餐"),
        "市民政局养老服务处",
    ),
    DemoArticle(
        "consumer_rights",
        "market_regulation",
        ("健身房倒闭了预付卡怎么退钱？", "理发店办的会员卡不给退", "预付卡商家跑路了找谁"),
        "经营者停业或者歇业的，应当提前30日告知消费者并退还预付卡余额。遇商家拒不退款或失联的，可保留"
        "合同、付款记录和卡片，通过12315平台或12345投诉；涉及人数较多、商家失联的，可向公安机关报案。"
        "单张预付卡金额不宜超过5,000元，办卡前可在“示范市预付卡监管平台”查询商家备案和资金存管情况。",
        ("预付卡", "会员卡", "退款", "跑路", "12315"),
        "市市场监督管理局《单用途预付卡消费提示》",
    ),
    DemoArticle(
        "consumer_rights",
        "market_regulation",
        ("网购的东西能七天无理由退货吗？", "网店不给退货怎么投诉"),
        "网购商品自收货之日起7日内可无理由退货，但定制商品、鲜活易腐商品、已拆封的音像制品和计算机软件、"
        "交付的报纸期刊等除外，退货商品应完好。商家拒绝的，先通过平台客服申请介入；仍未解决的，"
        "可在全国12315平台投诉，投诉时请提供订单号、聊天记录和商家名称。",
        ("七天无理由", "退货", "网购", "12315"),
        "市市场监督管理局",
    ),
    DemoArticle(
        "wage_arrears",
        "human_resources",
        ("公司拖欠工资怎么办？", "老板不发工资去哪里投诉", "农民工讨薪找哪个部门", "离职了工资一直不给"),
        "用人单位拖欠工资的，可携带身份证、劳动合同或工作证明、考勤及工资记录，到用工所在地区劳动保障监察"
        "大队投诉，也可通过“示范人社”App线上投诉；属于劳动争议的，可在争议发生之日起一年内向劳动人事争议"
        "仲裁委员会申请仲裁，仲裁不收费。建设工程领域的农民工工资问题，还可向项目所在地的工程建设主管部门"
        "反映。",
        ("拖欠工资", "讨薪", "劳动监察", "劳动仲裁", "农民工"),
        "市人力资源和社会保障局",
    ),
    DemoArticle(
        "rental",
        "housing",
        ("房东不退押金怎么办？", "租房押金被扣了合理吗", "中介不退押金投诉"),
        "租赁合同到期或依约解除、承租人按约定结清费用并交还房屋的，出租人应按合同约定退还押金；扣除押金应有"
        "合同依据并说明理由。协商不成的，可向房屋所在地街道的住房租赁纠纷调解站申请调解，或向人民法院起诉；"
        "涉及住房租赁企业或中介机构的，可向区住房和城乡建设部门投诉。签约时建议使用本市住房租赁合同示范文本，"
        "并通过住房租赁服务平台网签备案。",
        ("押金", "租房", "中介", "调解", "网签备案"),
        "市住房和城乡建设局《住房租赁服务指南》",
    ),
    DemoArticle(
        "tutoring",
        "education",
        ("校外培训机构退费难怎么办？", "培训班不上了能退钱吗", "怎么查培训机构有没有资质"),
        "校外培训机构应与家长签订合同示范文本，预收费须进入监管账户，一次性收费不得超过3个月或60课时。"
        "未上课时的费用，家长可依合同申请退费；机构拒绝的，可向机构所在区教育局投诉。报名前可在"
        "“全国校外教育培训监管与服务综合平台”查询机构的办学许可和收费监管情况。",
        ("校外培训", "退费", "资质", "监管账户"),
        "市教育局《校外培训消费提示》",
    ),
    DemoArticle(
        "medical_service",
        "health",
        ("怎么预约挂号？", "市医院能网上挂号吗", "专家号在哪里约"),
        "本市二级以上公立医院号源统一在“示范健康”App和市预约挂号平台开放，可提前7天预约，每日7:00放号；"
        "部分医院保留少量现场号。爽约3次以上的，90天内不能网上预约。老年人可由子女代为预约，或到医院"
        "“老年人绿色通道”窗口现场挂号。",
        ("预约挂号", "专家号", "放号", "爽约"),
        "市卫生健康委员会",
    ),
    DemoArticle(
        "bus_service",
        "transport",
        ("公交卡丢了能补办吗？", "交通卡余额怎么退", "实名公交卡挂失"),
        "实名登记的市政交通卡可到任一客服网点凭身份证挂失补办，挂失次日起余额转入新卡，补卡工本费20元；"
        "非实名卡丢失无法挂失。退卡可到指定客服网点办理，退还卡内余额和押金，卡面损坏的按检测结果处理。",
        ("公交卡", "交通卡", "挂失", "补办", "退卡"),
        "市交通运输局客运管理处",
    ),
    DemoArticle(
        "construction_noise",
        "environment",
        ("晚上施工太吵能投诉吗？", "工地夜间施工几点停", "夜里有工地施工噪音"),
        "本市建成区内22时至次日6时禁止产生噪声的建筑施工作业，因生产工艺要求或特殊需要必须连续施工的，"
        "须取得生态环境部门出具的夜间施工证明并在工地公示。未取得证明夜间施工的，可拨打12345或12369投诉，"
        "请说明工地名称或位置、施工时间；执法人员将到场核查。",
        ("夜间施工", "噪音", "工地", "12369"),
        "市生态环境局《噪声污染防治指南》",
    ),
    DemoArticle(
        "household_registration",
        "public_security",
        (
            "How do foreigners register their residence?",
            "I just moved to a rented flat, do I need to register with the police?",
            "外国人住宿登记怎么办",
        ),
        "Foreign nationals staying outside hotels must register their accommodation with the local police station "
        "within 24 hours of arrival (72 hours in rural areas). Bring your passport with a valid visa or residence "
        "permit and the tenancy contract; the landlord may register for you, or you can register online through "
        "the 'Demo City Immigration' service. After moving house, register again within 24 hours. "
        "境外人员在宾馆以外住宿的，应在抵达后24小时内（农村地区72小时）到住地派出所办理住宿登记。",
        ("foreigner", "residence registration", "住宿登记", "外国人"),
        "市公安局出入境管理局",
    ),
    DemoArticle(
        None,
        "civil_affairs",
        ("Does the 12345 hotline speak English?", "Is there an English service on 12345?"),
        "Yes. Call 12345 and press 9 for the English service, available every day from 8:00 to 20:00; "
        "outside those hours an operator takes your request and a bilingual staff member calls you back the next "
        "morning. You can also write to 12345 online in English at the city's service portal. "
        "12345热线提供英语服务：拨通后按9，每日8:00至20:00。",
        ("English", "hotline", "12345", "外语服务"),
        "示范市12345市民服务热线",
    ),
    DemoArticle(
        "shared_bikes",
        "urban_management",
        ("共享单车押金退不了怎么办？", "共享单车乱扣费投诉"),
        "本市运营的共享单车企业均已实行免押金骑行。对历史押金未退还或骑行费用有异议的，请先通过企业App客服"
        "申请；15日内未处理的，可向市交通运输部门或12345反映，请提供手机号、订单截图和企业名称。",
        ("共享单车", "押金", "扣费"),
        "市交通运输局",
        status="draft",
    ),
)
