"""Invented Chinese place and person names (with pinyin for the English names) and fake phone numbers."""

from __future__ import annotations

import random

# Characters that make plausible place names, with their pinyin.
SYLLABLES: tuple[tuple[str, str], ...] = (
    ("青", "qing"), ("松", "song"), ("云", "yun"), ("湖", "hu"), ("金", "jin"), ("桥", "qiao"),
    ("枫", "feng"), ("林", "lin"), ("岚", "lan"), ("梅", "mei"), ("溪", "xi"), ("桂", "gui"),
    ("东", "dong"), ("南", "nan"), ("北", "bei"), ("新", "xin"), ("华", "hua"), ("文", "wen"),
    ("昌", "chang"), ("兴", "xing"), ("安", "an"), ("平", "ping"), ("和", "he"), ("康", "kang"),
    ("乐", "le"), ("福", "fu"), ("瑞", "rui"), ("丰", "feng"), ("泰", "tai"), ("宁", "ning"),
    ("德", "de"), ("明", "ming"), ("光", "guang"), ("阳", "yang"), ("星", "xing"), ("月", "yue"),
    ("山", "shan"), ("河", "he"), ("塘", "tang"), ("港", "gang"), ("岭", "ling"), ("洲", "zhou"),
    ("湾", "wan"), ("滨", "bin"), ("江", "jiang"), ("荷", "he"), ("竹", "zhu"), ("柳", "liu"),
    ("槐", "huai"), ("芙", "fu"), ("蓉", "rong"), ("麓", "lu"), ("雨", "yu"), ("望", "wang"),
    ("汇", "hui"), ("锦", "jin"), ("秀", "xiu"), ("霞", "xia"), ("翠", "cui"), ("碧", "bi"),
    ("紫", "zi"), ("银", "yin"), ("玉", "yu"), ("泉", "quan"), ("石", "shi"), ("沙", "sha"),
    ("田", "tian"), ("茶", "cha"), ("桃", "tao"), ("杏", "xing"), ("莲", "lian"), ("鹤", "he"),
    ("凤", "feng"), ("龙", "long"), ("虹", "hong"), ("晨", "chen"), ("景", "jing"), ("盛", "sheng"),
    ("嘉", "jia"), ("永", "yong"), ("裕", "yu"), ("欣", "xin"), ("春", "chun"), ("秋", "qiu"),
    ("白", "bai"), ("芦", "lu"), ("苗", "miao"), ("桑", "sang"), ("樟", "zhang"),
)  # fmt: skip

COMPOUND_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("花园", "Garden"), ("家园", "Homes"), ("新村", "New Village"), ("小区", "Estate"),
    ("苑", "Court"), ("公寓", "Apartments"), ("雅居", "Residence"), ("名城", "City Homes"),
)  # fmt: skip
ROAD_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("路", "Road"), ("路", "Road"), ("街", "Street"), ("大道", "Avenue"), ("巷", "Lane"),
)  # fmt: skip
LANDMARKS: tuple[tuple[str, str], ...] = (
    ("小学", "Primary School"), ("农贸市场", "Market"), ("公园", "Park"), ("广场", "Square"),
    ("社区卫生服务中心", "Community Health Centre"), ("幼儿园", "Kindergarten"), ("中学", "Middle School"),
    ("体育馆", "Gymnasium"), ("菜市场", "Food Market"), ("商业街", "Shopping Street"),
)  # fmt: skip
SHOP_SUFFIXES = (
    "餐馆",
    "烧烤店",
    "超市",
    "便利店",
    "药店",
    "健身房",
    "KTV",
    "茶楼",
    "水果店",
    "理发店",
    "火锅店",
)
COMPANY_SUFFIXES = (
    "建筑工程有限公司",
    "物业管理有限公司",
    "餐饮管理有限公司",
    "商贸有限公司",
    "科技有限公司",
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鹏辉建国志宏海燕雪琴晨阳欣怡浩然子轩雨涵思远佳琪"
PHONE_PREFIXES = (
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "157", "158", "159", "166", "173", "177", "180", "181", "182", "185", "186", "187", "188", "189", "199",
)  # fmt: skip


class NamePool:
    """Two-character names, each used once in the whole city."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def take(self) -> tuple[str, str]:
        for _ in range(10000):
            (a, pa), (b, pb) = self.rng.sample(SYLLABLES, 2)
            if a + b not in self.used and a != b:
                self.used.add(a + b)
                return a + b, (pa + pb).capitalize()
        raise RuntimeError("the name pool is exhausted")

    def compound(self) -> tuple[str, str]:
        zh, en = self.take()
        suffix_zh, suffix_en = self.rng.choice(COMPOUND_SUFFIXES)
        return zh + suffix_zh, f"{en} {suffix_en}"

    def road(self) -> tuple[str, str]:
        zh, en = self.take()
        suffix_zh, suffix_en = self.rng.choice(ROAD_SUFFIXES)
        return zh + suffix_zh, f"{en} {suffix_en}"

    def landmark(self) -> tuple[str, str]:
        zh, en = self.take()
        suffix_zh, suffix_en = self.rng.choice(LANDMARKS)
        return zh + suffix_zh, f"{en} {suffix_en}"


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given


def caller_name(rng: random.Random) -> str:
    """How an operator writes down a caller: a full name, or 'Ms Wang' / 'Mr Li'."""
    if rng.random() < 0.55:
        return rng.choice(SURNAMES) + rng.choice(("先生", "女士"))
    return person_name(rng)


def phone_number(rng: random.Random) -> str:
    """A made-up mobile number (11 digits with a real-looking prefix); it reaches nobody in the demo."""
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
