"""How residents really write: more phrasings per problem, colloquial openings, slips of the keyboard, mixed topics,
vague messages and questions among complaints (`chengzhi.demo.voice` puts them together).

Invented for the demo city: nothing here comes from real records. The base templates are in `texts.PROBLEMS`; the
ones here are the same problems as residents say them, shorter or rambling, often without the words an operator
would use for the category.
"""

from __future__ import annotations

# ---------------------------------------------------------------- more phrasings per problem
EXTRA_PROBLEMS: dict[str, tuple[str, ...]] = {
    "water_outage": (
        "我们{compound}又没水了，{since}到现在一直没来",
        "家里水管拧开什么都没有，问了邻居也一样，{compound}这一片都这样",
        "{road}这边断水了，连个通知都没贴，啥时候能来水啊",
        "{compound}三天两头断水，这个月第{num}回了",
    ),
    "water_quality": (
        "自来水烧开以后壶底一层白色的东西，{compound}好多家都这样",
        "水有股怪味，像铁锈，小孩喝了肚子不舒服",
        "{compound}{building}的水放出来是黄的，洗个衣服都染色了",
    ),
    "water_pressure": (
        "我住{floor}，水龙头的水细得跟线一样，洗澡根本洗不了",
        "{compound}一到晚上水就上不来，高层的住户只能半夜接水",
        "水压低得热水器老熄火，物业说是市政的事",
    ),
    "power_outage": (
        "{compound}又跳闸了，整栋楼黑着，{since}到现在还没来电",
        "我们这一片{since}就没电了，空调冰箱全停了，热死人",
        "一天停好几次电，家里电器都快烧坏了，{road}这边老这样",
    ),
    "power_hazard": (
        "{road}有根电线掉下来挂在树上，风一吹就晃，看着吓人",
        "{compound}楼下的电箱冒过火花，还有烧焦的味道",
        "{landmark}门口那个变压器嗡嗡响，晚上还冒烟",
    ),
    "gas_leak": (
        "楼道里一股臭鸡蛋味，像是天然气，好几家都闻到了",
        "{compound}{building}有燃气味，很冲，赶紧来人看看",
        "厨房里总有煤气味，打火的时候不敢点，怕出事",
    ),
    "gas_supply": (
        "家里燃气打不着火，卡里明明还有钱，{compound}好几户都这样",
        "天然气停了{days}天了，做饭只能用电磁炉",
        "充了燃气费表上不显示，跑了两趟营业厅也没弄好",
    ),
    "heating": (
        "家里冷得要穿羽绒服，暖气就是温乎的，{temp}度都不到",
        "{compound}暖气不热，交了钱不给热，找谁都推",
        "暖气片上面热下面凉，屋里跟冰窖一样，老人都冻感冒了",
        "{building}今年到现在都没来暖，别的楼都热了",
    ),
    "road_damage": (
        "{road}那段路烂得不成样子，坑挨着坑，开车跟坐船一样",
        "{landmark}门口路上有个坑，前两天有人骑车摔了",
        "{road}路面裂了好长一条缝，越来越宽",
    ),
    "manhole_cover": (
        "{road}上的井盖没了，黑窟窿一个，太危险了",
        "{compound}门口那个下水井盖子翘起来了，车一压就响",
        "井盖碎了一半，{landmark}旁边，晚上谁掉下去怎么办",
    ),
    "street_light": (
        "{road}晚上黑灯瞎火的，路灯坏了好久了",
        "{compound}门口那盏灯一闪一闪的，后来干脆不亮了",
        "{landmark}那边一到晚上就漆黑一片，女孩子下班回来很害怕",
    ),
    "sewer_blockage": (
        "{compound}{building}下水返水，卫生间地漏往上冒脏水",
        "{road}路边的排水沟堵了，一股臭味，{shop}门口全是污水",
        "楼下管道堵了好几天，一楼住户家里都淹了",
    ),
    "waterlogging": (
        "一下雨{road}就成了河，电动车都泡坏了",
        "{compound}地下车库进水了，每次下雨都这样",
        "{road}低洼的地方积水排不出去，学生上学都要蹚水",
    ),
    "garbage": (
        "{compound}垃圾桶都满出来了，没人拉，臭得要命",
        "{building}楼下垃圾堆了好多天了，老鼠蟑螂到处爬",
        "{road}路边有人倒垃圾，越堆越多，也没人管",
        "小区垃圾没人收，夏天苍蝇蚊子一大堆",
    ),
    "waste_sorting": (
        "垃圾分类搞了半天，最后还是一车拉走，那我们分个啥",
        "{compound}的分类桶总是满的，厨余垃圾没地方扔",
        "小区撤了楼下的垃圾桶，要走好远去扔，老人提着垃圾很不方便",
    ),
    "public_toilet": (
        "{landmark}那个厕所臭得进不去人，地上全是水",
        "{road}公厕门一直锁着，附近想上厕所都找不到地方",
        "公厕洗手池坏了好久，没人修",
    ),
    "street_vendor": (
        "{road}晚上全是摆摊的，烧烤、卖衣服的，把路堵死了",
        "{landmark}门口小摊小贩太多了，救护车都过不去",
        "{compound}门口天天有卖菜的三轮车，早上堵得走不动",
    ),
    "illegal_ads": (
        "楼道里全是小广告，门上都贴，撕都撕不干净",
        "{road}墙上喷的办证电话，到处都是",
        "有人往{compound}每家门缝里塞广告，还在电梯里贴",
    ),
    "construction_noise": (
        "工地{night_time}还在干活，咣咣的，根本睡不着",
        "{compound}旁边工地天天晚上施工，投诉了好几次没用",
        "{road}那边夜里挖路，机器声音特别大，孩子都被吵醒了",
    ),
    "commercial_noise": (
        "楼下{shop}放音乐放到半夜，吵死了",
        "{landmark}跳广场舞的音响开得震天响，天天如此",
        "{road}的{shop}门口喇叭一直喊促销，一整天不停",
    ),
    "air_pollution": (
        "{road}那边有人烧东西，黑烟滚滚的，呛得人咳嗽",
        "附近厂子晚上排气，一股刺鼻的味道，窗户都不敢开",
        "{compound}周边灰太大了，车上一天一层土",
    ),
    "water_pollution": (
        "{landmark}边上的河水是黑的，离老远都能闻到臭味",
        "河里漂着好多垃圾和死鱼，也没人捞",
        "有个管子一直往河里排白色的水，不知道是什么东西",
    ),
    "cooking_fumes": (
        "楼下{shop}的油烟直接往上冒，家里衣服都晾不了",
        "{shop}的排烟管对着我们窗户，一天到晚油烟味",
        "{road}路边烤串的烟太大了，整条街都是",
    ),
    "bus_service": (
        "{attr_line}等了快一个小时都不来，天天迟到",
        "{attr_line}的司机态度太差了，老人刷卡慢了点就骂人",
        "{road}那个站的公交改线了，我们这边坐车很不方便",
    ),
    "taxi_service": (
        "打车被拒载，说不顺路，{landmark}门口的出租车都这样",
        "出租车不打表，开口就要{num}0块",
        "网约车司机绕了一大圈，多收钱还不认账",
    ),
    "traffic_signal": (
        "{road}路口红绿灯坏了，车乱成一锅粥",
        "{road}和{road2}那个路口绿灯就几秒，老人走一半就红了",
        "红绿灯一直黄灯闪，{landmark}门口差点撞到学生",
    ),
    "illegal_parking": (
        "{compound}门口天天有车乱停，我家车出不去",
        "有辆车停在{building}楼下好几天了，挡着路，打电话也不接",
        "{road}人行道上停满了车，行人只能走马路",
    ),
    "shared_bikes": (
        "{landmark}门口单车堆成山了，路都堵了",
        "{compound}门口一堆共享单车，还有倒在地上的",
        "坏的共享电动车扔在{road}边上好久了，没人收",
    ),
    "property_management": (
        "物业啥事不干就知道收钱，{compound}卫生一塌糊涂",
        "{compound}物业跟业主对着干，业主群里都在骂",
        "找物业修个东西推三阻四，拖了{weeks}个星期",
        "物业换了以后服务越来越差，门禁坏了也不修",
    ),
    "elevator": (
        "电梯又停了，{attr_trapped}，{floor}的老人下不了楼",
        "{building}电梯三天两头坏，坐着心里发毛，{attr_trapped}",
        "电梯门关不上，一直响，{attr_trapped}，物业说等配件",
    ),
    "old_housing_renovation": (
        "{compound}房子太老了，外墙掉皮，下水管也漏，啥时候能改造",
        "老小区改造把路挖了一半不管了，进出都难",
        "想问问{compound}有没有列入改造，楼道墙皮都掉光了",
    ),
    "illegal_construction": (
        "楼上在楼顶盖房子，叮叮当当好几天了",
        "{compound}有人把公共绿地圈起来盖了个棚子",
        "一楼把院子扩出去了，还搭了彩钢房，挡着大家的路",
    ),
    "housing_delivery": (
        "买的房子说好今年交，到现在工地都停了，开发商跑了一样",
        "{compound}收房发现墙都是裂的，开发商不管",
        "房本一直办不下来，开发商就一句话：等",
    ),
    "rental": (
        "退租的时候房东押金不退，说墙脏了要扣钱",
        "{compound}有套房子隔成好几间租，住了一堆人，进进出出很乱",
        "中介收了钱就不见人了，房子也没租上",
    ),
    "food_safety": (
        "在{shop}吃完饭拉肚子，一家人都拉了",
        "{shop}卖的东西过期了，找他们还不认",
        "{shop}后厨脏得不行，看到有蟑螂",
    ),
    "consumer_rights": (
        "{shop}办的卡，充了钱人跑了，卡里还有{num}000多",
        "买的东西坏了商家不给修不给换",
        "在{shop}消费被坑了，说好的价格结账变了",
    ),
    "price": (
        "{shop}东西不标价，结账的时候随口要价",
        "停车场一个小时收{num}0块，也没个收费牌子",
        "物业收水电费比外面贵，不知道是不是乱收费",
    ),
    "wage_arrears": (
        "干了{months}个月活，老板一分钱工资没给，{attr_amount}块",
        "{company}欠我们工资，{attr_workers}个人都没拿到钱，快过年了",
        "包工头跑了，工钱{attr_amount}找谁要",
    ),
    "social_insurance": (
        "社保断了几个月，还能补交吗",
        "养老保险交满多少年才能领退休金",
        "换了工作社保怎么转过来，要跑原来的地方吗",
        "失业了社保自己怎么交",
    ),
    "medical_insurance": (
        "医保卡在外地能用吗，住院怎么报",
        "孩子的医保怎么办，刚生的",
        "看门诊能不能走医保，报多少",
    ),
    "household_registration": (
        "户口怎么迁过来，要什么手续",
        "孩子上户口要带啥",
        "身份证掉了在哪补，多久能拿",
    ),
    "housing_fund": (
        "公积金能不能取出来交房租",
        "公积金贷款能贷多少，要什么条件",
        "辞职了公积金怎么取",
    ),
    "school_enrolment": (
        "孩子明年上小学，我们{compound}划到哪个学校",
        "外地户口孩子在这边上学要准备啥",
        "转学怎么办，要去哪里办手续",
    ),
    "tutoring": (
        "报的培训班关门了，钱也不退，{num}000多块",
        "{landmark}附近培训机构周末偷偷上课",
        "培训班老师走了，课上不了，退费不给退",
    ),
    "medical_service": (
        "医院排队排了一上午，就开一个窗口",
        "{landmark}卫生服务中心的医生爱答不理的",
        "去医院看个感冒开了一堆检查，花了好几百",
    ),
    "elderly_care": (
        "老人吃饭是个问题，{compound}附近有没有老年食堂",
        "我妈{age}多了，高龄补贴一直没发",
        "养老院收费乱，服务还差",
    ),
    "social_assistance": (
        "家里困难，想申请低保，不知道找谁",
        "低保交了材料好几个月没消息",
        "{compound}有个独居老人生活很难，没人管",
    ),
    "fire_hazard": (
        "楼道里停满电动车还充电，万一着火跑都跑不出去",
        "{compound}消防通道堆满了杂物",
        "{shop}的安全出口锁着，里面人又多",
    ),
    "tree_hazard": (
        "{road}有棵树歪了，{attr_problems}，刮风怕倒",
        "楼下大树{attr_problems}，树枝伸到窗户里了",
        "{landmark}边上的树{attr_problems}，挂着电线",
    ),
    "neighbour_dispute": (
        "楼上天天半夜咚咚咚，说了也不听",
        "邻居家漏水到我家，他们不管，物业也不管",
        "对门把鞋柜杂物全堆在楼道，说了还吵架",
    ),
    "dogs": (
        "小区有人遛狗不拴绳，大狗追着小孩跑",
        "楼上狗天天叫，晚上也叫，没法睡",
        "{compound}到处是狗屎，踩一脚",
    ),
    "tourism": (
        "跟团去{landmark}被拉去购物，不买还给脸色",
        "景区门票买了，里面又收钱",
        "{landmark}那边吃饭被宰了，一个菜{num}00块",
    ),
    "other": (
        "{compound}边上的空地被人种了菜，还浇粪",
        "{landmark}的长椅坏了，老人没地方坐",
        "附近没有快递点，取个快递要走好远",
        "我们这边的事一直没人管，不知道该找谁",
    ),
    "suggestion": (
        "能不能在{road}多设几个公交站",
        "建议{compound}附近建个停车场，停车太难了",
        "希望多建点公园，给老人孩子一个活动的地方",
    ),
}

# Categories an operator might file the same words under (a real city's labels are not clean).
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "water_outage": ("water_pressure", "water_quality"),
    "water_pressure": ("water_outage",),
    "water_quality": ("water_outage",),
    "power_outage": ("power_hazard",),
    "power_hazard": ("power_outage", "street_light"),
    "gas_supply": ("gas_leak",),
    "heating": ("property_management",),
    "road_damage": ("manhole_cover", "old_housing_renovation"),
    "manhole_cover": ("road_damage",),
    "street_light": ("power_hazard", "property_management"),
    "sewer_blockage": ("waterlogging", "property_management"),
    "waterlogging": ("sewer_blockage",),
    "garbage": ("waste_sorting", "property_management"),
    "waste_sorting": ("garbage",),
    "street_vendor": ("illegal_parking", "commercial_noise"),
    "construction_noise": ("commercial_noise", "neighbour_dispute"),
    "commercial_noise": ("construction_noise", "neighbour_dispute"),
    "air_pollution": ("cooking_fumes",),
    "cooking_fumes": ("air_pollution", "commercial_noise"),
    "illegal_parking": ("fire_hazard", "property_management"),
    "shared_bikes": ("illegal_parking",),
    "property_management": ("elevator", "garbage", "neighbour_dispute"),
    "elevator": ("property_management",),
    "old_housing_renovation": ("property_management",),
    "illegal_construction": ("neighbour_dispute",),
    "rental": ("housing_delivery", "consumer_rights"),
    "food_safety": ("consumer_rights",),
    "consumer_rights": ("price", "food_safety"),
    "price": ("consumer_rights",),
    "social_insurance": ("medical_insurance", "wage_arrears"),
    "medical_insurance": ("social_insurance", "medical_service"),
    "housing_fund": ("social_insurance",),
    "tutoring": ("consumer_rights", "school_enrolment"),
    "medical_service": ("medical_insurance",),
    "elderly_care": ("social_assistance",),
    "social_assistance": ("elderly_care",),
    "fire_hazard": ("property_management", "illegal_parking"),
    "neighbour_dispute": ("property_management", "dogs"),
    "dogs": ("neighbour_dispute",),
    "tourism": ("consumer_rights",),
    "other": ("suggestion", "property_management"),
    "suggestion": ("other", "bus_service"),
}

# Messages that say little about what is wrong (an operator still files them somewhere).
VAGUE = (
    "{compound}的问题反映了好几次了，一直没人管，到底有没有人负责",
    "我们{compound}这边的事情麻烦尽快处理一下",
    "上次反映的问题到现在还没解决，请给个说法",
    "{road}那边的情况很严重，请相关部门去看一下",
    "社区不管，街道也不管，不知道该找谁了",
    "就是那个事，之前打过电话的，还是没弄好",
    "{compound}{building}的事情，希望有人来看看",
    "问题还在，一点变化都没有",
    "请领导关注一下{compound}居民的困难",
    "我要投诉，{compound}的事情拖了太久了",
)

# ---------------------------------------------------------------- framing
COLLOQUIAL_OPENERS = (
    "你好，",
    "您好！",
    "领导您好，",
    "领导好！",
    "你好 ",
    "打扰一下，",
    "我想反映个事，",
    "我要投诉，",
    "实在没办法了，",
    "第{num}次反映了！",
    "急！！",
    "求助：",
    "麻烦问一下，",
    "我是{compound}的业主，",
    "我是住在{compound}{building}的居民，",
    "本人住{district}{street}{compound}，",
    "我家在{road}{doorplate}，",
    "{community}居民反映：",
    "书记您好，",
    "尊敬的领导：",
    "",
    "",
    "",
)
PHONE_OPENERS = (
    "市民来电反映：",
    "来电人反映，",
    "市民来电称，",
    "来电反映：",
    "市民反映：",
    "来电人称：",
    "市民来电表示，",
    "来电人情绪激动，称",
    "市民来电投诉：",
    "来电人（{compound}居民）反映：",
    "市民来电求助：",
    "",
)
CONSULT_PHONE_OPENERS = ("来电人想了解：", "市民来电询问，", "")
CONSULT_ONLINE_OPENERS = ("你好，想咨询一下，", "请问一下，", "领导好，", "麻烦问下，")
CONSULT_CLOSERS = ("谢谢！", "在线等，挺急的", "网上查了半天没找到")
QUESTION_FORMS = (
    "请问{problem}，这个归哪个部门管",
    "想问一下，{problem}，该找谁",
    "{problem}，这种情况能不能投诉",
    "{problem}，请问什么时候能解决",
    "咨询一下，{problem}，有没有人管",
)
CONNECTORS = ("另外，", "还有，", "顺便说一下，", "再一个，", "还有个事，", "对了，")
SECOND_FIRST = ("先说个小事，{second}。主要是", "除了{second}以外，最要紧的是", "{second}就不说了，")
HISTORY = (
    "之前打过{num}次12345了",
    "{months}月份就反映过，说是处理了其实没有",
    "物业说不归他们管，社区让找街道，街道又让找物业",
    "社区来人看了一眼就走了",
    "找过好几个部门都在推",
    "上次回复说已解决，实际根本没人来",
    "业主群里大家都在说这个事",
    "已经拍了照片和视频",
)
# What a long message adds: the resident's circumstances and the story so far.
DETAILS = (
    "我们这栋楼住的大多是老人，腿脚不方便",
    "{months}月份的时候社区说会协调，后来就没有下文了",
    "我每天早上七点出门上班，晚上九点多才到家",
    "这个问题不是一天两天了，去年这个时候也是这样",
    "孩子马上要考试了，晚上需要安静的环境学习",
    "打了物业电话，对方说已经报上去了，让我们等",
    "楼里好几户都在群里说这个事，大家都很着急",
    "我拍了照片和视频，可以提供给工作人员",
    "之前看到新闻说要集中整治，但是我们这里一点变化都没有",
    "也不是故意要投诉，实在是没有别的办法了",
    "上周{days}号左右情况更严重了",
    "我们也理解政府工作忙，但这个事确实影响太大",
    "家里老人有高血压，最近被这个事弄得睡不好",
    "问了周边几个小区，他们那边都已经解决了",
)
FEELINGS = (
    "真的太气人了",
    "实在受不了了",
    "家里有老人孩子，天天提心吊胆",
    "这日子没法过了",
    "希望别再推来推去",
    "大家意见都很大",
    "拜托了",
)
ASKS = (
    "希望尽快派人处理",
    "请给个明确的答复",
    "请领导重视",
    "麻烦尽快解决",
    "希望有个结果",
    "请相关部门核实处理",
    "别再敷衍了",
)
TAILS = ("谢谢！", "谢谢", "盼复", "辛苦了", "！！！", "。。。", "", "", "")

# ---------------------------------------------------------------- slips of the keyboard and of the ear
# Homophones and near-forms residents type by mistake; one or two per message in a share of messages.
SLIPS: tuple[tuple[str, str], ...] = (
    ("已经", "以经"),
    ("反映", "反应"),
    ("垃圾", "拉圾"),
    ("暖气", "暖器"),
    ("噪音", "燥音"),
    ("燃气", "燃汽"),
    ("下水道", "下水到"),
    ("一直", "一只"),
    ("的", "地"),
    ("的", "得"),
    ("在", "再"),
    ("再", "在"),
    ("部门", "布门"),
    ("物业", "物叶"),
    ("小区", "小曲"),
    ("处理", "处里"),
    ("现在", "线在"),
    ("解决", "解绝"),
    ("已", "己"),
    ("那", "哪"),
    ("电梯", "电剃"),
    ("维修", "维休"),
    ("投诉", "投述"),
    ("麻烦", "麻范"),
    ("严重", "严种"),
    ("希望", "洗望"),
)
# Punctuation as typed on a phone: ASCII commas, spaces, doubled marks, none at all.
PUNCTUATION: tuple[tuple[str, str], ...] = (
    ("，", ","),
    ("，", " "),
    ("，", "  "),
    ("。", "."),
    ("。", "，"),
    ("？", "?"),
    ("！", "!"),
    ("：", ":"),
)
