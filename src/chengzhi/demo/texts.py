"""Chinese texts of the demo requests: what residents say, what operators write down, how units reply.

Templates use `{slots}` filled per request (places of the community where it happens, times, numbers); the
`compose_*` functions put openers, a problem, an impact and a closer together, so that thousands of requests read
differently. Nothing here comes from real records.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

# ---------------------------------------------------------------- what residents report
# One or more sentences without the final full stop; `{compound}`, `{road}`... are filled per request.
PROBLEMS: dict[str, tuple[str, ...]] = {
    "water_outage": (
        "{compound}{building}从{since}开始停水，到现在还没有来水，事先也没有看到任何停水通知",
        "{compound}{attr_scope}停水{hours}个小时了，打物业电话说不清楚原因，家里老人小孩做饭洗漱都成问题",
        "{road}{landmark}附近一带突然停水，不知道什么时候能恢复",
        "{compound}{building}{room}家里水龙头一滴水都没有，楼上楼下都一样，{attr_scope}都停了",
    ),
    "water_quality": (
        "{compound}{building}自来水发黄，放了十几分钟还是浑浊，不敢喝",
        "{compound}最近{days}天自来水有一股很重的消毒水味道，烧开了也有",
        "{compound}{building}水龙头放出来的水有沉淀物，怀疑二次供水水箱没有清洗",
    ),
    "water_pressure": (
        "{compound}{building}，家住{floor}，每天早晚用水高峰水压很小，热水器都打不着火",
        "{compound}高层住户水压一直不足，已经持续{weeks}周了",
        "{compound}{building}水压时大时小，洗衣机经常提示进水故障",
    ),
    "power_outage": (
        "{compound}{building}从{since}开始停电，{attr_scope}都没电，冰箱里的东西都要坏了",
        "{road}{landmark}周边{attr_scope}反复停电，一天停了{num}次",
        "{compound}{attr_scope}停电{hours}个小时了，供电公司电话一直打不进去",
        "{compound}{building}{room}没电了，电表显示正常，物业说是线路问题让找供电公司",
    ),
    "power_hazard": (
        "{road}{landmark}旁边一根电线杆倾斜得很厉害，电线垂得很低，行人车辆经过很危险",
        "{compound}{building}楼下配电箱门坏了一直敞开着，里面电线裸露，小孩经常在旁边玩",
        "{road}路边的电缆被挖断了一截，外皮破损，下雨天担心漏电",
    ),
    "gas_leak": (
        "{compound}{building}{unit_no}楼道里燃气味道很重，怀疑有燃气泄漏",
        "{road}{shop}门口闻到很浓的煤气味，附近人很多，请马上派人来处理",
        "{compound}{building}{room}家里燃气表附近有嘶嘶声，已经关了总阀，不敢开火",
    ),
    "gas_supply": (
        "{compound}{building}已经{days}天没有燃气了，燃气公司说在检修但是一直没有通知恢复时间",
        "{compound}新房装修完申请通气，等了{weeks}周还没有安排上门",
        "燃气费已经缴了但燃气表一直显示欠费，{compound}营业厅说要等系统处理",
    ),
    "heating": (
        "{compound}{building}暖气一直不热，室内温度只有{temp}度左右，家里有老人",
        "{compound}{building}{room}今年交了取暖费，暖气片到现在还是凉的",
        "{compound}供暖温度不达标，已经报修{num}次，工作人员来看了说正常就走了",
    ),
    "road_damage": (
        "{road}靠近{landmark}的路面出现一个大坑，{attr_size}，晚上电动车经过很容易摔倒",
        "{road}与{road2}交叉口路面塌陷，{attr_size}，车辆都绕着走",
        "{road}人行道地砖松动破损了一大片，{attr_size}，下雨天一踩就溅一身泥水",
        "{compound}门口的{road}路面坑坑洼洼，{attr_size}，已经坏了{weeks}周没人修",
    ),
    "manhole_cover": (
        "{road}{landmark}门口有一个井盖不见了，只放了一个锥桶，晚上看不清非常危险",
        "{road}与{road2}路口的井盖破裂了，车辆压过去哐哐响，随时可能塌下去",
        "{compound}大门口人行道上的井盖松动翘起，已经有老人被绊倒了",
    ),
    "street_light": (
        "{road}从{landmark}到{road2}这一段路灯全部不亮，晚上一片漆黑",
        "{compound}门口{road}的路灯不亮{days}天了，编号{attr_lamp_number}，晚上出门很不安全",
        "{road}的路灯白天亮着晚上反而不亮，浪费电又不安全",
    ),
    "sewer_blockage": (
        "{compound}{building}下水道堵塞，污水从一楼地漏往外冒，臭气熏天",
        "{road}{shop}门口的下水道堵了，污水漫到人行道上",
        "{compound}{building}化粪池满溢，污水流到小区道路上已经{days}天了",
    ),
    "waterlogging": (
        "{road}{landmark}路段一下雨就积水，水深快到膝盖，车辆行人都过不去",
        "{road}与{road2}路口下雨积水严重，雨水箅子被垃圾堵住了",
        "{compound}门口{road}积水{days}天都没有排掉，蚊虫滋生",
    ),
    "garbage": (
        "{compound}{building}楼下的垃圾站垃圾堆积已经{attr_days}天没有清运，臭气熏天，苍蝇很多",
        "{road}{landmark}旁边的垃圾桶满了没人清理，垃圾堆到了路边",
        "{compound}小区里的垃圾{attr_days}天才收一次，天气热了味道特别大",
        "{compound}东门外有人乱倒建筑垃圾和生活垃圾，堆成了一座小山",
    ),
    "waste_sorting": (
        "{compound}分类垃圾桶摆了出来，但收运的时候又混在一起倒进一辆车，分类成了摆设",
        "{compound}{building}楼下的厨余垃圾桶破了一直没有更换，汤汤水水流了一地",
        "{compound}垃圾分类投放点离{building}太远，老人投放很不方便，能否增设一个",
    ),
    "public_toilet": (
        "{road}{landmark}旁边的公共厕所脏乱差，没有纸也没有洗手液，冲水也坏了",
        "{landmark}的公厕白天经常锁门，附近游客和环卫工人都不方便",
        "{road}的公厕排风坏了，气味飘到旁边的{shop}",
    ),
    "street_vendor": (
        "{road}{landmark}门口每天傍晚都有很多流动摊贩占道摆摊，人行道完全被堵住了",
        "{compound}门口早上有人占道卖菜，垃圾扔得到处都是，上班出门都挤不过去",
        "{road}{shop}长期把桌椅摆到人行道上经营，行人只能走机动车道",
    ),
    "illegal_ads": (
        "{compound}{building}楼道里贴满了开锁、通下水道的小广告，清理了又贴",
        "{road}的电线杆和公交站牌上到处喷涂办证电话，非常影响市容",
        "{landmark}附近的墙上被人刷了很多小广告，希望清理并查处张贴者",
    ),
    "construction_noise": (
        "{road}旁边的工地{attr_period}一直施工，机器轰隆隆响，{compound}的居民根本没法休息",
        "{compound}对面的工地{night_time}还在打桩，施工噪音扰民，已经持续{days}天了",
        "{road}道路施工{attr_period}切割路面，噪音非常大，家里孩子马上要考试了",
    ),
    "commercial_noise": (
        "{road}{shop}每天晚上用大音响招揽客人，音乐声一直放到{night_time}",
        "{landmark}广场舞音响声音太大，每天早上六点就开始，{compound}的住户不堪其扰",
        "{compound}楼下的{shop}营业到深夜，顾客喧哗吵闹，严重影响休息",
    ),
    "air_pollution": (
        "{road}附近有人露天焚烧垃圾，烟很大，{compound}的居民窗户都不敢开",
        "{road}工地渣土车没有覆盖，扬尘很大，路面全是泥",
        "{compound}附近一家工厂晚上偷偷排放废气，气味刺鼻，闻了头晕",
    ),
    "water_pollution": (
        "{landmark}旁边的河道水体发黑发臭，还有死鱼漂在水面上",
        "{road}附近有一根管子往河里直排污水，颜色发白，怀疑是工厂废水",
        "{compound}后面的小河沟长期堆积垃圾，夏天臭味很重，蚊虫很多",
    ),
    "cooking_fumes": (
        "{compound}{building}楼下的{shop}油烟直排，熏得楼上住户不能开窗",
        "{road}{shop}在门口露天烧烤，烟雾很大，周围居民意见很大",
        "{compound}底商{shop}没有安装油烟净化设施，油烟味道一直飘到{floor}",
    ),
    "bus_service": (
        "{attr_line}公交车班次太少，早高峰在{road}站要等{minutes}分钟以上",
        "{attr_line}公交司机开车太猛，急刹车好几次，车上老人差点摔倒",
        "{road}{landmark}公交站撤掉以后，附近居民坐车要多走{num}00米，能否恢复",
        "{attr_line}公交车经常过站不停，在{road}站招手也不停车",
    ),
    "taxi_service": (
        "在{landmark}打出租车，司机嫌路近拒载",
        "在{road}坐网约车，司机故意绕路，多收了{num}0元",
        "出租车司机在车上抽烟，还不按计价器收费，要求一口价",
    ),
    "traffic_signal": (
        "{road}与{road2}路口的红绿灯坏了，一直闪黄灯，车辆行人抢行很危险",
        "{road}{landmark}门口的人行横道信号灯不亮，学生过马路很危险",
        "{road}与{road2}交叉口左转绿灯时间太短，每次只能过几辆车，经常堵车",
    ),
    "illegal_parking": (
        "{compound}消防通道长期被私家车占用，真出了火灾消防车根本进不来",
        "{road}{landmark}门口车辆乱停乱放，把人行道全占了",
        "有车停在{compound}{building}楼下堵住了单元门口，已经停了{days}天",
    ),
    "shared_bikes": (
        "{road}地铁口共享单车堆得满满当当，行人都过不去",
        "{compound}门口被共享单车堵住了，车辆进出很困难",
        "{landmark}附近的共享电单车乱停，还有很多坏车没人回收",
    ),
    "property_management": (
        "{compound}物业服务太差，楼道卫生没人打扫，保安也经常不在岗",
        "{compound}物业擅自涨物业费，也没有召开业主大会",
        "{compound}{building}楼道灯坏了{weeks}周，报修了物业一直不来修",
        "{compound}物业把小区公共绿地改成了收费停车位，业主们意见很大",
    ),
    "elevator": (
        "{compound}{building}的电梯又坏了，{attr_trapped}，这个月已经坏了{num}次",
        "{compound}{building}{unit_no}电梯运行时异响晃动，{attr_trapped}，住户都不敢坐",
        "{compound}{building}电梯停运{days}天了，{attr_trapped}，{floor}的老人上下楼非常困难",
    ),
    "old_housing_renovation": (
        "{compound}是老旧小区，管网老化经常爆管，希望纳入老旧小区改造计划",
        "{compound}{building}想加装电梯，楼上楼下意见不统一，希望社区和相关部门协调",
        "{compound}改造工程拖了{months}个月还没完工，路面挖开了一直没有恢复",
    ),
    "illegal_construction": (
        "{compound}{building}顶楼住户在楼顶私自加盖房屋，担心影响楼体安全",
        "{compound}{building}一楼住户私自扩建院子，占用了公共绿地",
        "{road}{landmark}旁边有人违规搭建铁皮房，已经施工{days}天",
    ),
    "housing_delivery": (
        "购买的{compound}商品房合同约定今年交房，现在已经延期{months}个月，开发商不给说法",
        "{compound}交房后发现墙体开裂、窗户渗水，开发商拖着不维修",
        "{compound}交房{months}个月了还办不了不动产权证，开发商说手续还没办好",
    ),
    "rental": (
        "在{compound}租的房子到期退租，房东以各种理由扣押金不退",
        "{compound}{building}有一套房子被改成群租房，住了十几个人，存在安全隐患",
        "通过中介在{compound}租房，中介收了服务费后联系不上了",
    ),
    "food_safety": (
        "在{road}{shop}吃饭后全家出现腹泻呕吐症状，怀疑食物不干净",
        "在{road}{shop}买到过期食品，商家拒绝退换",
        "{road}{shop}后厨卫生很差，有老鼠出没，请监管部门检查",
    ),
    "consumer_rights": (
        "在{road}{shop}办了预付卡，充了{num}000元，现在店铺突然关门了",
        "在{landmark}附近的商场买的电器出了质量问题，商家拒绝按三包规定维修",
        "在{road}{shop}消费时被强制收取服务费，协商无果",
    ),
    "price": (
        "{road}{shop}商品没有明码标价，结账时价格比别家贵很多",
        "{landmark}附近停车场乱收费，收费标准没有公示",
        "{compound}物业代收水电费时加价收取，怀疑违规",
    ),
    "wage_arrears": (
        "在{road}{company}的工地干活，被拖欠工资{attr_amount}元，一起的工友有{attr_workers}人",
        "{company}拖欠{months}个月工资共{attr_amount}元，老板一直找借口不发",
        "在{company}工作，离职后公司一直不结算最后{months}个月的工资，共{attr_amount}元",
    ),
    "social_insurance": (
        "想咨询灵活就业人员怎么缴纳养老保险，在哪里办理",
        "从外地调到本市工作，社保关系转移需要带什么材料",
        "父亲明年退休，想了解养老金领取需要办理哪些手续",
        "公司没有给员工缴纳社保，想了解怎么维权",
    ),
    "medical_insurance": (
        "在外地住院治疗，医保异地就医报销需要办理什么手续",
        "孩子刚出生，新生儿医保怎么参保登记",
        "门诊慢特病待遇怎么申请，需要哪些材料",
    ),
    "household_registration": (
        "大学毕业想把户口落到本市，需要什么条件和材料",
        "孩子出生后上户口需要带哪些证件",
        "身份证丢了，补办需要多长时间，能不能异地办理",
    ),
    "housing_fund": (
        "租房可以提取住房公积金吗，每年能提取多少",
        "用公积金贷款买二手房，最高能贷多少",
        "离职后公积金账户怎么处理，能不能一次性提取",
    ),
    "school_enrolment": (
        "孩子今年秋季上小学，住在{compound}，想了解对口学校是哪所",
        "随迁子女在本市入学需要准备什么材料，什么时候报名",
        "从外地转学到{district}，转学手续怎么办理",
    ),
    "tutoring": (
        "在{road}一家校外培训机构报了课，交了{num}000元，现在机构停课不退费",
        "{landmark}附近有培训机构周末违规开展学科培训",
        "孩子报名的培训班老师频繁更换，要求退费被拒绝",
    ),
    "medical_service": (
        "在{district}人民医院看病，挂号排队{hours}个小时，窗口只开了一个",
        "{landmark}社区卫生服务中心医生态度恶劣，不耐心解释病情",
        "在医院做检查被要求做很多不必要的项目，费用很高",
    ),
    "elderly_care": (
        "{compound}老人多，希望社区增设老年食堂或助餐点",
        "家里老人{age}多岁了，高龄津贴一直没有发放",
        "{compound}附近的养老机构收费不透明，服务质量差",
    ),
    "social_assistance": (
        "家庭收入很低，丈夫生病在家，想了解申请低保需要哪些条件",
        "低保申请已经交了{months}个月，社区一直说在审核",
        "{compound}有一户困难家庭，老人独居生活困难，希望给予帮扶",
    ),
    "fire_hazard": (
        "{compound}{building}楼道里有住户把电动车推进去充电，飞线充电很危险",
        "{compound}{building}消防栓没有水，灭火器也过期了",
        "{road}{shop}把安全出口锁了，还在通道里堆满杂物",
    ),
    "tree_hazard": (
        "{road}行道树{attr_problems}，下雨刮风的时候随时可能砸到行人",
        "{compound}{building}门口的大树{attr_problems}，挡住了低层住户的采光",
        "{landmark}旁边有一棵树{attr_problems}，靠在电线上很危险",
    ),
    "neighbour_dispute": (
        "{compound}{building}楼上住户家漏水，把我家天花板泡坏了，协商不成",
        "{compound}{building}邻居在楼道里堆放杂物，沟通多次不听",
        "{compound}{building}楼上每天晚上拖椅子、蹦跳，{night_time}还有噪音",
    ),
    "dogs": (
        "{compound}有人遛狗不牵绳，狗冲过来把孩子吓哭了",
        "{compound}{building}有住户养了好几条大型犬，每天晚上狂叫",
        "{compound}小区里狗粪随处可见，主人从来不清理",
    ),
    "tourism": (
        "在{landmark}参加一日游，导游强制带去购物店",
        "在{district}景区买门票后被告知部分项目要另外收费",
        "{landmark}周边的农家乐价格宰客，一份菜收了{num}00元",
    ),
    "other": (
        "{compound}旁边的空地被人圈起来养鸡鸭，气味很大",
        "{road}{landmark}附近的公共座椅损坏了，希望修一修",
        "{compound}附近没有便民服务点，缴费办事都要跑很远",
    ),
    "suggestion": (
        "建议在{road}{landmark}附近增设一处公交站，方便周边居民出行",
        "建议在{compound}周边增加公共停车位，缓解停车难问题",
        "建议{district}多建一些口袋公园和健身步道",
    ),
}

# ---------------------------------------------------------------- how units reply
REPLIES: dict[str, tuple[str, ...]] = {
    "water_outage": (
        "经核实，停水系{road}供水管网爆管抢修所致，已于{date}恢复供水，并已要求今后抢修前及时发布停水通知",
        "经查，{compound}二次供水水泵故障，我局已督促物业更换水泵，现已恢复正常供水",
    ),
    "water_quality": (
        "经现场取样检测，水质各项指标符合国家标准，出现黄水系管道冲洗所致，已对{compound}管网进行排放冲洗",
        "已督促{compound}物业对二次供水水箱进行清洗消毒，并出具水质检测报告",
    ),
    "water_pressure": (
        "经核实，{compound}高层供水加压设备老化，已协调更换变频泵，水压已恢复正常",
        "已对{compound}片区供水管网进行调压，用水高峰水压明显改善",
    ),
    "power_outage": (
        "经查，停电系{road}线路故障所致，抢修人员已于{date}完成抢修并恢复供电",
        "经核实，{compound}停电为小区配电设施故障，已协助物业完成维修，现已恢复供电",
    ),
    "power_hazard": (
        "已派人员到现场处置，对倾斜电杆进行加固，垂落线路已重新架设",
        "已对{compound}配电箱进行维修加锁，并张贴安全警示标识",
    ),
    "gas_leak": (
        "接报后抢修人员{arrive}分钟内到达现场，确认为阀门接口松动漏气，已完成维修，检测无泄漏",
        "抢修人员已到现场检测，关闭阀门并更换老化胶管，经检测已无燃气泄漏，已对住户进行安全用气宣传",
    ),
    "gas_supply": (
        "经核实，{compound}燃气检修已完成，于{date}恢复供气",
        "已安排工作人员上门完成通气点火，并告知住户安全用气注意事项",
    ),
    "heating": (
        "已派维修人员上门检查，系暖气管道内有空气导致不热，已进行排气处理，室温已达标",
        "经查，{compound}换热站设备故障，已完成维修，供暖已恢复正常",
    ),
    "road_damage": (
        "已安排养护人员对{road}破损路面进行修补，现已恢复平整",
        "经核实，该路段坑槽已于{date}完成修复，并已纳入重点巡查",
    ),
    "manhole_cover": (
        "接报后已立即设置围挡警示，并于{date}更换新井盖，现已恢复安全",
        "经查，该井盖权属单位为{road}沿线管线单位，已督促其完成更换加固",
    ),
    "street_light": (
        "经查，该路段路灯线路老化短路，已完成维修，路灯恢复正常照明",
        "已更换{road}损坏的路灯灯具，现已正常亮灯",
    ),
    "sewer_blockage": (
        "已组织疏通作业，{compound}堵塞管道已疏通，并对周边进行了清洗消杀",
        "经查系{road}市政管网堵塞，已用疏通车完成清淤，排水恢复正常",
    ),
    "waterlogging": (
        "已对{road}雨水箅子进行清掏，并安排泵车抽排积水，现积水已排除",
        "该路段积水点已纳入今年排水改造计划，汛期已安排专人值守抽排",
    ),
    "garbage": (
        "已督促环卫公司对{compound}垃圾进行清运，并将清运频次调整为每日两次",
        "社区已组织人员清理{compound}堆积垃圾，并约谈保洁公司要求日产日清",
    ),
    "waste_sorting": (
        "社区已联系收运单位，要求严格分类收运，并更换了破损垃圾桶",
        "经与物业协商，已在{compound}{building}附近增设一处分类投放点",
    ),
    "public_toilet": (
        "已督促公厕管理单位加强保洁，维修了冲水设备并补充了厕纸和洗手液",
        "经查，该公厕开放时间已调整为全天开放，并安排专人管理",
    ),
    "street_vendor": (
        "执法队员已到现场劝离占道摊贩，并对{road}加强巡查，引导摊贩进入规定区域经营",
        "已对{shop}占道经营行为进行教育并责令整改，现已恢复通行",
    ),
    "illegal_ads": (
        "街道已组织人员清理{compound}及周边小广告，并对涉及的电话号码进行停机处理",
        "已对{road}沿线小广告进行集中清理，并加强巡查",
    ),
    "construction_noise": (
        "执法人员已到工地核查，责令施工单位夜间停止高噪声作业，对其违法行为立案处理",
        "经查该工地有夜间施工许可，已要求其采取降噪措施，并提前公示施工时间",
    ),
    "commercial_noise": (
        "执法队员已上门要求{shop}降低音量，并告知噪声污染防治相关规定，商户已整改",
        "已与广场舞团队沟通，调整活动时间并降低音量",
    ),
    "air_pollution": (
        "执法人员已到现场扑灭焚烧点，对相关责任人进行了批评教育",
        "已责令工地落实覆盖、冲洗等扬尘防治措施，并对渣土运输车辆进行查处",
    ),
    "water_pollution": (
        "已对该段河道进行采样监测并组织打捞清理，排污口已封堵，相关企业已立案调查",
        "经排查，污水来自周边雨污混流管道，已纳入截污改造工程",
    ),
    "cooking_fumes": (
        "执法人员已责令{shop}限期安装油烟净化设施，逾期未改将依法处理",
        "已对{shop}露天烧烤行为进行查处，商户已将经营移至室内",
    ),
    "bus_service": (
        "已将{attr_line}早高峰发车间隔调整为{num}分钟，并加强驾驶员安全教育",
        "已对涉事驾驶员进行批评教育并扣减绩效，感谢您的监督",
    ),
    "taxi_service": (
        "经调取车载记录核实，已对涉事驾驶员依法处罚，并责令退还多收费用",
        "已约谈涉事平台公司，要求加强驾驶员管理",
    ),
    "traffic_signal": (
        "已派人员维修{road}路口信号灯，现已恢复正常",
        "已对该路口信号配时进行优化，延长了左转绿灯时间",
    ),
    "illegal_parking": (
        "交警已到现场对违停车辆贴单处罚并联系车主挪车",
        "已在{compound}消防通道施划禁停标线，并加强巡查",
    ),
    "shared_bikes": (
        "已通知相关企业清理{road}区域堆积车辆，并设置停放电子围栏",
        "已督促运营企业回收故障车辆，并加强运维调度",
    ),
    "property_management": (
        "社区已约谈{compound}物业公司，责令其加强保洁和安保，楼道灯已修复",
        "经社区协调，物业费调整需经业主大会表决，物业已暂停执行新标准",
    ),
    "elevator": (
        "已督促维保单位对{compound}{building}电梯进行全面检修，更换了故障部件，并约谈物业",
        "特种设备安全监察人员已到现场检查，责令维保单位立即整改，电梯已恢复运行",
    ),
    "old_housing_renovation": (
        "{compound}已纳入明年老旧小区改造计划，届时将对供水管网进行整体更换",
        "已督促施工单位加快施工进度，承诺在{weeks}周内恢复路面",
    ),
    "illegal_construction": (
        "街道已组织执法人员现场核查，确认为违法建设，已下达限期拆除通知书",
        "经核查，该搭建行为违法，当事人已于{date}自行拆除",
    ),
    "housing_delivery": (
        "已约谈开发商，督促其制定交付方案并依合同承担违约责任",
        "已责令开发商限期维修房屋质量问题，并协调办理不动产权证",
    ),
    "rental": (
        "已约谈中介机构，督促其退还相关费用",
        "经调解，房东已同意退还押金，双方达成一致",
    ),
    "food_safety": (
        "执法人员已对{shop}进行现场检查，责令停业整改，并抽样送检",
        "经调查，{shop}存在销售过期食品行为，已依法立案查处",
    ),
    "consumer_rights": (
        "经调解，商家已同意按规定退还剩余预付款",
        "已督促商家按三包规定为消费者维修，双方达成和解",
    ),
    "price": (
        "已责令{shop}整改明码标价问题，并依法作出处理",
        "已对停车场收费行为进行检查，责令其公示收费标准",
    ),
    "wage_arrears": (
        "劳动监察已约谈{company}负责人，企业承诺于{date}前支付拖欠工资",
        "经调查核实，{company}已足额支付拖欠的工资",
    ),
    "social_insurance": (
        "已电话告知诉求人：灵活就业人员可在政务服务App或社保经办窗口办理参保登记",
        "已告知诉求人社保关系转移所需材料及办理流程",
    ),
    "medical_insurance": (
        "已告知诉求人通过医保App办理异地就医备案，备案后可直接结算",
        "已向诉求人说明新生儿参保登记流程及所需材料",
    ),
    "household_registration": (
        "已告知诉求人落户条件及所需材料，可在就近派出所户籍窗口办理",
        "已告知诉求人补办身份证可在全国任一公安户籍窗口申请",
    ),
    "housing_fund": (
        "已告知诉求人租房提取公积金的条件、额度及线上办理渠道",
        "已告知诉求人公积金贷款额度计算方法及办理流程",
    ),
    "school_enrolment": (
        "已告知诉求人{compound}对口学校及报名时间，具体以教育部门发布的招生方案为准",
        "已告知诉求人随迁子女入学所需材料及报名流程",
    ),
    "tutoring": (
        "已约谈涉事培训机构，督促其按规定退还剩余课时费用",
        "已对该机构违规开展学科培训行为进行查处",
    ),
    "medical_service": (
        "已督促医院增开挂号窗口并推广预约挂号，减少排队时间",
        "已责成医院对涉事医生进行批评教育，并向患者致歉",
    ),
    "elderly_care": (
        "社区已将{compound}增设老年助餐点列入计划，预计{months}个月内建成",
        "经核实，高龄津贴发放延迟系信息审核原因，已补发到位",
    ),
    "social_assistance": (
        "已告知诉求人低保申请条件及流程，社区已上门指导申请",
        "社区已上门走访该困难家庭，并为其申请临时救助",
    ),
    "fire_hazard": (
        "已联合社区、物业开展清理整治，清理楼道电动车，并增设集中充电桩",
        "已督促物业更换过期灭火器并维修消防栓，消防设施已恢复正常",
    ),
    "tree_hazard": (
        "已安排园林工人对该树木进行修剪加固，消除了安全隐患",
        "经评估，该树木存在倒伏风险，已依法办理手续后移除并补种",
    ),
    "neighbour_dispute": (
        "社区调解员已上门调解，双方就漏水维修达成一致",
        "社区已组织双方沟通，涉事住户已清理楼道杂物",
    ),
    "dogs": (
        "社区已对涉事养犬户进行劝导，并张贴文明养犬宣传",
        "已联合物业开展文明养犬宣传，督促犬主牵绳并清理犬粪",
    ),
    "tourism": (
        "已对涉事旅行社立案调查，督促其退还相关费用",
        "已责令景区规范收费公示",
    ),
    "other": (
        "经核实，已协调相关单位处理，并将持续跟进",
        "已安排人员到现场查看，相关设施已修复",
    ),
    "suggestion": (
        "感谢您的建议，相关部门已将其纳入研究，将结合规划统筹考虑",
        "您的建议已转相关部门研究，{district}今年将新建口袋公园{num}处",
    ),
}

# What an operator answers at intake, from the knowledge base (consultations).
ANSWERS: dict[str, tuple[str, ...]] = {
    "social_insurance": (
        "灵活就业人员可携带身份证到社保经办窗口办理养老保险参保登记，也可通过政务服务App线上办理，"
        "缴费基数可在规定范围内自行选择",
        "社保关系转移在新参保地申请即可，由新参保地经办机构向原参保地发送联系函，无需本人往返两地",
        "办理退休需在达到法定退休年龄前一个月，由单位或本人向社保经办机构申请待遇核定",
        "用人单位未依法缴纳社会保险费的，可向劳动保障监察机构投诉，也可申请劳动仲裁",
    ),
    "medical_insurance": (
        "可通过国家医保服务平台App办理异地就医备案，备案后在定点医院住院可直接结算",
        "新生儿可凭出生医学证明、户口簿在社区或政务服务App办理参保登记",
        "门诊慢特病需由定点医院出具诊断证明，向医保经办机构申请，评审认定后享受待遇",
    ),
    "household_registration": (
        "高校毕业生凭毕业证、身份证和劳动合同可在就近派出所户籍窗口申请落户，具体以落户政策为准",
        "新生儿入户需携带出生医学证明、父母身份证、户口簿和结婚证，到父或母户籍所在地派出所办理",
        "身份证补领可在全国任一公安机关户籍窗口申请，一般二十个工作日内制证完成，可选择邮寄",
    ),
    "housing_fund": (
        "本人及配偶在本市无自有住房且租房居住的，每年可提取一次住房公积金支付房租，可在公积金App线上办理",
        "公积金贷款额度与账户余额、缴存年限和还款能力有关，购买二手房需先评估，可在公积金中心网站试算",
        "离职后公积金账户封存，新单位可办理转移接续；符合离开本市等条件的可申请销户提取",
    ),
    "school_enrolment": (
        "适龄儿童入学按划片招生，对口学校以{district}教育局当年公布的招生范围为准，一般在六月至七月网上报名",
        "随迁子女入学需提供居住证、监护人就业或社保证明、户口簿等材料，在规定时间内网上报名",
        "转学需先向转入学校申请，经同意后通过学籍系统办理转学手续",
    ),
}

# A reply that explains rather than solves (the resident may then be dissatisfied).
EXPLANATIONS = (
    "经现场核实，该问题涉及历史遗留问题，需多部门协调解决，已纳入整改计划，已向诉求人做好解释",
    "经核实，诉求人反映的情况属实，因涉及资金安排，暂无法立即解决，已向诉求人说明情况",
    "经查，该问题不在政策支持范围内，已向诉求人做好政策解释工作",
)

# ---------------------------------------------------------------- the framing around a problem
PHONE_OPENERS = ("市民来电反映：", "来电人反映，", "市民来电称，", "来电反映：", "市民反映：")
ONLINE_OPENERS = ("", "", "您好，", "你好，", "领导好，", "我是{compound}的住户，", "我是{community}居民，")
CONSULT_PHONE_OPENERS = ("市民来电咨询：", "来电人咨询，", "市民咨询：")
CONSULT_ONLINE_OPENERS = ("", "您好，", "请问，")
IMPACTS = (
    "严重影响居民正常生活",
    "给周边居民带来很大不便",
    "之前已经向物业和社区反映过，一直没有解决",
    "问题已经持续{days}天了",
    "希望引起重视",
    "",
    "",
)
# Said of problems in the street: roads, facilities, hazards.
SAFETY_IMPACTS = ("老人和小孩经过很不安全", "晚上出行存在很大安全隐患", "已经有人差点摔倒")
SAFETY_GROUPS = frozenset({"municipal", "safety", "transport"})
# Said of a person's own case (wages, a purchase, a school): the neighbourhood is not concerned.
PERSONAL_IMPACTS = ("多次协商无果", "希望尽快给个说法", "", "")
PERSONAL_GROUPS = frozenset({"labour", "market", "education_health", "civil", "other"})
PERSONAL_CATEGORIES = frozenset({"housing_delivery", "rental", "taxi_service"})
PHONE_CLOSERS = (
    "来电人希望相关部门尽快处理。",
    "市民要求尽快解决。",
    "请相关部门核实处理。",
    "来电人情绪较为激动，要求尽快给予答复。",
    "希望有关部门尽快上门查看。",
)
ONLINE_CLOSERS = (
    "希望尽快处理，谢谢！",
    "麻烦相关部门管一管。",
    "请尽快解决，谢谢。",
    "希望政府重视。",
    "盼复！",
    "",
)
CONSULT_CLOSERS = ("", "请给予解答。", "希望得到答复。")
TITLE_FORMS = ("{place}{name}", "{place}{name}问题", "关于{place}{name}的诉求", "反映{place}{name}")
REPLY_OPENERS = ("您好，关于您反映的问题，", "您好！", "", "关于{place}{name}的诉求：")
REPLY_OPENERS_WITHOUT_PLACE = ("您好，关于您反映的问题，", "您好！", "", "关于您反映的{name}问题：")
REPLY_CLOSERS = (
    "感谢您对我们工作的支持。",
    "如仍有问题，欢迎再次来电。",
    "已电话告知诉求人。",
    "诉求人表示认可。",
    "",
)

# ---------------------------------------------------------------- notes of the workflow steps
CONTACT_NOTES = (
    "已电话联系诉求人，了解具体情况。",
    "已电话联系诉求人，约定{when}上门查看。",
    "已联系诉求人，说明处理流程及时限。",
    "已电话联系诉求人，工作人员已到现场核实。",
    "多次电话未接通，已发送短信告知办理进展。",
)
RETURN_REASONS = (
    "经核实，诉求地点不在本单位管辖范围内，属{correct}辖区，申请退回重新派单。",
    "该诉求不属于本单位职责范围，建议派至{correct}办理。",
    "诉求地址有误，经现场核实应由{correct}承办，申请退回。",
)
REDISPATCH_NOTES = ("根据退单意见重新派单。", "已核实承办单位，重新派单。")
REOPEN_DISPATCH_NOTES = ("市民不满意，重新派单，请认真核实办理。", "问题未解决，重新派单办理。")
EXTENSION_REASONS = (
    "涉及多个部门协调，需要更多时间办理。",
    "需要等待维修配件到货。",
    "已列入施工计划，工期较长，申请延期。",
    "涉及资金审批，需履行相关程序。",
    "需组织现场勘查和专家论证。",
    "需征求业主意见，申请延长办理时限。",
)
EXTENSION_APPROVALS = ("情况属实，同意延期。", "同意延期，请在延期时限内办结。", "同意。")
EXTENSION_REFUSALS = ("理由不充分，不同意延期，请按原时限办理。", "该问题可先行处置，不同意延期。")
SUPERVISION_NOTES = (
    "该诉求已超期，请承办单位尽快办理并反馈。",
    "请于今日内联系诉求人并反馈办理进展。",
    "市民多次来电催办，请加快办理。",
    "请承办单位负责人督促办理，{hours}小时内反馈。",
)
LEADER_NOTES = ("领导批示：请高度重视，限期办结。", "请相关单位联动处置，举一反三，防止问题反弹。")
REOPEN_REASONS = (
    "回访时市民表示问题仍未解决，重新办理。",
    "市民对处理结果不满意：{complaint}。",
    "市民反映问题反弹，要求重新处理。",
)
RESIDENT_REOPEN_REASONS = (
    "问题还是没有解决，{complaint}。",
    "处理后没几天又出现了，请再处理一下。",
    "答复与实际情况不符，{complaint}。",
)
COMPLAINTS = ("说好的上门一直没有来", "只是口头答复，没有实际行动", "现场问题依旧存在", "工作人员态度敷衍")
REVIEW_COMMENTS: dict[int, tuple[str, ...]] = {
    5: ("处理很及时，非常满意。", "问题已解决，感谢！", "工作人员态度很好，点赞。", ""),
    4: ("问题基本解决。", "比较满意，希望以后加强管理。", ""),
    3: ("一般，处理时间有点长。", "问题解决了一部分。", ""),
    2: ("不太满意，问题没有彻底解决。", "答复比较敷衍。"),
    1: ("非常不满意，没有任何改善。", "根本没人来处理。"),
}
CLOSE_NOTES = ("回访完毕，办结。", "已办结。", "")
UNRATED_CLOSE_NOTES = (
    "多次回访电话未接通，按规定办结。",
    "市民拒绝评价，办结。",
    "回访时市民表示不愿评价，办结。",
)
CO_HANDLE_NOTES = ("吹哨报到：需{units}到场协同处置。", "涉及多部门职责，请{units}协同办理。")
MERGE_NOTES = ("与同一地点在办诉求反映的是同一问题，合并办理。", "重复诉求，合并至在办工单统一答复。")
CONSULTATION_ANSWER_PREFIXES = ("已告知来电人：", "已解答：", "依据知识库答复：")


class _Slots(dict[str, str]):
    """Format slots where a template may name one this request does not have (left out, not a KeyError)."""

    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, slots: Mapping[str, str]) -> str:
    return template.format_map(_Slots(slots))


def compose_text(
    rng: random.Random,
    problem: str,
    slots: Mapping[str, str],
    *,
    by_phone: bool,
    consultation: bool,
    group: str = "",
    personal: bool = False,
) -> str:
    if consultation:
        opener = rng.choice(CONSULT_PHONE_OPENERS if by_phone else CONSULT_ONLINE_OPENERS)
        closer = rng.choice(CONSULT_CLOSERS)
        return f"{opener}{problem}？{closer}".strip()
    opener = rng.choice(PHONE_OPENERS if by_phone else ONLINE_OPENERS)
    impacts: tuple[str, ...] = IMPACTS + (SAFETY_IMPACTS if group in SAFETY_GROUPS else ())
    if personal:
        impacts = PERSONAL_IMPACTS
    if "天" in problem:  # the problem says how long already
        impacts = tuple(i for i in impacts if "{days}" not in i)
    impact = fill(rng.choice(impacts), slots)
    closer = rng.choice(PHONE_CLOSERS if by_phone else ONLINE_CLOSERS)
    body = f"{problem}，{impact}。" if impact else f"{problem}。"
    return fill(opener, slots) + body + closer


def compose_title(rng: random.Random, name: str, place: str, consultation: bool) -> str:
    if consultation:
        topic = name.removesuffix("咨询")
        return rng.choice((name, f"关于{topic}的咨询", f"咨询{topic}问题"))
    forms: tuple[str, ...] = TITLE_FORMS if place else ("{name}", "反映{name}", "{name}问题")
    if name.endswith("问题"):
        forms = tuple(f for f in forms if not f.endswith("问题"))
    return rng.choice(forms).format(place=place, name=name)


def compose_reply(
    rng: random.Random, code: str, slots: Mapping[str, str], *, explain: bool, name: str, place: str
) -> str:
    body = rng.choice(EXPLANATIONS) if explain else fill(rng.choice(REPLIES[code]), slots)
    opener = rng.choice(REPLY_OPENERS if place else REPLY_OPENERS_WITHOUT_PLACE).format(
        place=place, name=name
    )
    return f"{opener}{body}。{rng.choice(REPLY_CLOSERS)}"


def compose_answer(rng: random.Random, code: str, slots: Mapping[str, str]) -> str:
    """The operator's answer to a consultation, taken from the knowledge base."""
    return f"{rng.choice(CONSULTATION_ANSWER_PREFIXES)}{fill(rng.choice(ANSWERS[code]), slots)}。"


def pick(rng: random.Random, options: tuple[str, ...], **slots: str) -> str:
    return fill(rng.choice(options), slots)
