"""Chinese personal names: surnames drawn by their frequency (approximate shares, per mille, of
the national surname ranking; Sichuan's order differs little at the top), given names of one or
two characters from sex-specific pools. All names are synthetic combinations."""

from __future__ import annotations

import random

from .rng import weighted_table

_SURNAMES = {
    "王": 71, "李": 70, "张": 66, "刘": 53, "陈": 45, "杨": 31, "黄": 22, "赵": 20, "吴": 19,
    "周": 18, "徐": 13, "孙": 12, "马": 12, "朱": 11, "胡": 10, "郭": 10, "何": 10, "高": 9,
    "林": 9, "罗": 9, "郑": 8, "梁": 8, "谢": 7, "宋": 6, "唐": 6, "许": 6, "韩": 6, "冯": 6,
    "邓": 6, "曹": 5, "彭": 5, "曾": 5, "肖": 5, "田": 5, "董": 5, "袁": 4, "潘": 4, "于": 4,
    "蒋": 4, "蔡": 4, "余": 4, "杜": 4, "叶": 4, "程": 4, "苏": 3, "魏": 3, "吕": 3, "丁": 3,
    "任": 3, "沈": 3, "姚": 3, "卢": 3, "姜": 3, "崔": 3, "钟": 3, "谭": 3, "陆": 2, "汪": 2,
    "范": 2, "金": 2, "石": 2, "廖": 2, "贾": 2, "夏": 2, "韦": 2, "付": 2, "方": 2, "白": 2,
    "邹": 2, "孟": 2, "熊": 2, "秦": 2, "邱": 2, "江": 2, "尹": 2, "薛": 2, "闫": 2, "段": 2,
    "雷": 2, "侯": 2, "龙": 2, "史": 2, "陶": 2, "黎": 1, "贺": 1, "顾": 1, "毛": 1, "郝": 1,
    "龚": 1, "邵": 1, "万": 1, "覃": 1, "向": 1, "冉": 1, "牟": 1, "蒲": 1, "庞": 1, "司马": 1,
}
SURNAME_TABLE = weighted_table(_SURNAMES, 2000)

_MALE = "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"
_FEMALE = "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"


def surname(rng: random.Random) -> str:
    return rng.choice(SURNAME_TABLE)


def given_name(rng: random.Random, sex: str) -> str:
    pool = _MALE if sex == "1" else _FEMALE
    if rng.random() < 0.25:  # one-character given names, common among older generations
        return rng.choice(pool)
    return rng.choice(pool) + rng.choice(pool)


def full_name(rng: random.Random, sex: str, family: str | None = None) -> str:
    return (family or surname(rng)) + given_name(rng, sex)
