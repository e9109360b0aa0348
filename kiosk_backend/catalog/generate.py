"""Synthetic but plausible items in the import format, for benchmarks and load tests.

Names are built from the real vocabulary of Chinese service catalogs (objects a
department handles × what one does with them), so search benchmarks see realistic
bigram and pinyin distributions. Deterministic for a given seed.
"""
from __future__ import annotations

import random
from collections.abc import Iterator

DEPARTMENTS: dict[str, list[str]] = {
    "公安局": ["居民身份证", "户口", "居住证", "户籍证明", "临时身份证", "犬类登记", "保安员证", "旅馆业特种行业许可证"],
    "交通警察支队": ["机动车驾驶证", "机动车登记", "机动车号牌", "校车驾驶资格", "非机动车登记", "交通事故认定"],
    "出入境管理支队": ["普通护照", "往来港澳通行证", "往来台湾通行证", "出入境记录证明", "港澳签注"],
    "民政局": ["结婚登记", "离婚登记", "收养登记", "最低生活保障", "特困人员供养", "临时救助", "高龄津贴", "社会团体登记", "殡葬服务"],
    "人力资源和社会保障局": ["社会保障卡", "职工基本养老保险", "失业保险金", "工伤认定", "就业创业证", "职业技能等级证书", "劳动合同备案", "人力资源服务许可"],
    "医疗保障局": ["基本医疗保险", "异地就医备案", "门诊慢特病待遇", "生育医疗费用", "医疗救助", "定点医药机构"],
    "住房公积金管理中心": ["住房公积金", "公积金个人贷款", "公积金缴存", "公积金账户"],
    "不动产登记中心": ["不动产首次登记", "不动产转移登记", "不动产抵押登记", "不动产登记资料", "预告登记"],
    "市场监督管理局": ["个体工商户", "企业设立登记", "食品经营许可", "特种设备使用登记", "计量器具检定", "广告发布登记"],
    "税务局": ["增值税发票", "个人所得税", "纳税证明", "车船税", "契税", "税务登记"],
    "卫生健康委员会": ["出生医学证明", "医师执业注册", "护士执业注册", "母婴保健技术服务", "计划生育奖励扶助"],
    "残疾人联合会": ["残疾人证", "残疾人两项补贴", "辅助器具适配", "残疾人就业"],
    "教育局": ["义务教育入学", "教师资格认定", "学历证明", "民办学校办学许可", "学生资助"],
    "住房和城乡建设局": ["公共租赁住房", "建筑工程施工许可", "商品房预售许可", "物业服务", "房屋租赁登记备案"],
    "交通运输局": ["网络预约出租汽车驾驶员证", "道路运输经营许可", "出租汽车营运证", "道路运输从业资格证"],
    "退役军人事务局": ["优待证", "伤残抚恤", "退役士兵安置", "光荣牌"],
    "司法局": ["法律援助", "公证", "人民调解", "律师执业许可"],
    "生态环境局": ["排污许可", "环境影响评价", "危险废物经营许可"],
    "自然资源和规划局": ["建设用地规划许可", "乡村建设规划许可", "测绘资质"],
    "农业农村局": ["农药经营许可", "兽药经营许可", "动物防疫条件合格证", "农村宅基地"],
}
ACTIONS = ["申领", "换领", "补领", "变更", "注销", "登记", "备案", "核发", "审批", "查询", "认定", "延续", "转移接续", "申请", "证明开具"]
QUALIFIERS = ["", "", "", "", "（首次申领）", "（到期换领）", "（遗失补领）", "（个人）", "（单位）", "（跨省）"]
THEMES = ["户籍办理", "证件办理", "婚姻登记", "社会保障", "医疗卫生", "就业创业", "住房保障", "社会救助", "交通出行",
          "出境入境", "教育科研", "养老服务", "残疾人", "公积金", "不动产", "设立变更", "税收财务"]
AREAS = ["全市", "全市", "全县", "全省", "跨省", "全国"]
TYPES = ["01", "05", "07", "10", "20", "20"]


def generate_items(n: int, *, seed: int = 2260, city: str = "江州市") -> Iterator[dict]:
    rng = random.Random(seed)
    depts = list(DEPARTMENTS)
    for i in range(n):
        dept = rng.choice(depts)
        name = rng.choice(DEPARTMENTS[dept]) + rng.choice(ACTIONS) + rng.choice(QUALIFIERS)
        online = rng.random() < 0.6
        scenes = 0 if online or rng.random() < 0.3 else rng.randint(1, 2)
        promise = rng.choice([0, 1, 3, 5, 7, 10, 15, 20])
        yield {
            "task_name": name,
            "task_code": f"GEN{seed:05d}{i:09d}",
            "catalog_code": f"{rng.randint(0, 10**12 - 1):012d}",
            "task_type": rng.choice(TYPES),
            "dept_name": f"{city}{dept}",
            "server_type": ["自然人"] if rng.random() < 0.8 else ["法人"],
            "promise_day": promise,
            "promise_type": "工作日",
            "anticipate_day": max(promise, 20),
            "anticipate_type": "工作日",
            "project_type": "即办件" if promise == 0 else "承诺件",
            "limit_scene_num": scenes,
            "limit_scene_explain": "需现场核验申请人身份" if scenes else None,
            "is_online": online,
            "is_express": not online and scenes == 0 or rng.random() < 0.3,
            "is_service_terminals": rng.random() < 0.3,
            "handle_area": rng.choice(AREAS),
            "theme_natural": [rng.choice(THEMES)],
            "popularity": int(rng.paretovariate(1.2) * 10),
            "transact_addr": f"{city}民生服务中心{rng.randint(1, 3)}楼{rng.randint(1, 40)}号窗口",
            "transact_time": "周一至周五 9:00-12:00，13:30-17:00（法定节假日除外）",
        }
