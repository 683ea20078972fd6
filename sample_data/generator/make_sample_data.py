#!/usr/bin/env python3
"""Generate the danlu demo dataset: a bilingual (zh/en) assistant for a
fictional commercial testing laboratory ("Huace Lab" / "华测实验室").

Deterministic: a single random.Random with a fixed seed drives every choice,
no sets are iterated, nothing is read from the network or the clock, so two
runs produce byte-identical files.  Standard library only.

    python sample_data/generator/make_sample_data.py

writes, into sample_data/ (the folder above this script; the script itself is not installed with danlu):

    lab_consultant.alpaca.json        Alpaca JSON array (system/history when present)
    lab_consultant.sharegpt.jsonl     ShareGPT JSONL
    lab_consultant.messages.jsonl     OpenAI-style "messages" JSONL
    lab_consultant.csv                single-turn records: id,lang,instruction,input,output
    lab_consultant_zh_headers.csv     Chinese single-turn records: 问题,回答
    lab_consultant.dirty.jsonl        ShareGPT JSONL with planted problems
    dirty_manifest.json               where each planted problem is
    README.md                         description and counts

All lab names, addresses, accreditation numbers, prices and contacts are
fictional.  Standard codes are real-looking but the text is illustrative only.
"""

import csv
import io
import json
import math
import os
import random
import statistics

SEED = 20240611
N_SINGLE = 320
N_MULTI = 48
INPUT_SHARE = 0.20
SYSTEM_SHARE = 0.25
MAX_CHARS = 2500
N_DIRTY_BASE = 120

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # sample_data/, one folder up

LAB_EN = "Huace Lab"
LAB_ZH = "华测实验室"
ADDR_EN = "Sample Reception, Building 3, 88 Kejiyuan Road, Suzhou Industrial Park, Suzhou 215000, China"
ADDR_ZH = "苏州市工业园区科技园路88号3号楼一层样品接收室（邮编215000）"
PHONE = "400-820-9527"
EMAIL = "samples@huace-lab.example"
CNAS_NO = "CNAS L9527"

# ---------------------------------------------------------------------------
# Test catalogue
# ---------------------------------------------------------------------------

STD_TITLES = {
    "GB 5749-2022": ("生活饮用水卫生标准", "Standards for Drinking Water Quality"),
    "GB/T 5750-2023": ("生活饮用水标准检验方法", "Standard Examination Methods for Drinking Water"),
    "GB 8978-1996": ("污水综合排放标准", "Integrated Wastewater Discharge Standard"),
    "HJ 828-2017": ("水质 化学需氧量的测定 重铬酸盐法", "Water quality – Determination of COD – Dichromate method"),
    "HJ 535-2009": ("水质 氨氮的测定 纳氏试剂分光光度法", "Water quality – Ammonia nitrogen – Nessler's reagent spectrophotometry"),
    "HJ 505-2009": ("水质 五日生化需氧量的测定 稀释与接种法", "Water quality – BOD5 – Dilution and seeding method"),
    "GB/T 11893-1989": ("水质 总磷的测定 钼酸铵分光光度法", "Water quality – Total phosphorus – Ammonium molybdate spectrophotometry"),
    "GB 2763-2021": ("食品安全国家标准 食品中农药最大残留限量", "National Food Safety Standard – Maximum Residue Limits for Pesticides in Food"),
    "GB 23200.113-2018": ("植物源性食品中208种农药及其代谢物残留量的测定 气相色谱-质谱联用法", "208 pesticides and metabolites in foods of plant origin – GC-MS/MS"),
    "GB 23200.121-2021": ("植物源性食品中331种农药及其代谢物残留量的测定 液相色谱-质谱联用法", "331 pesticides and metabolites in foods of plant origin – LC-MS/MS"),
    "GB 2762-2022": ("食品安全国家标准 食品中污染物限量", "National Food Safety Standard – Limits of Contaminants in Food"),
    "GB 5009.12-2023": ("食品安全国家标准 食品中铅的测定", "Determination of lead in food"),
    "GB 5009.15-2023": ("食品安全国家标准 食品中镉的测定", "Determination of cadmium in food"),
    "GB 5009.268-2016": ("食品安全国家标准 食品中多元素的测定", "Determination of multiple elements in food"),
    "GB 15618-2018": ("土壤环境质量 农用地土壤污染风险管控标准（试行）", "Soil environmental quality – Risk control standard for soil contamination of agricultural land"),
    "GB 36600-2018": ("土壤环境质量 建设用地土壤污染风险管控标准（试行）", "Soil environmental quality – Risk control standard for soil contamination of development land"),
    "HJ 491-2019": ("土壤和沉积物 铜、锌、铅、镍、铬的测定 火焰原子吸收分光光度法", "Soil and sediment – Cu, Zn, Pb, Ni and Cr – Flame atomic absorption"),
    "HJ 680-2013": ("土壤和沉积物 汞、砷、硒、铋、锑的测定 微波消解/原子荧光法", "Soil and sediment – Hg, As, Se, Bi and Sb – Microwave digestion / atomic fluorescence"),
    "GB/T 17141-1997": ("土壤质量 铅、镉的测定 石墨炉原子吸收分光光度法", "Soil quality – Lead and cadmium – Graphite furnace atomic absorption"),
    "GB 18401-2010": ("国家纺织产品基本安全技术规范", "National General Safety Technical Code for Textile Products"),
    "GB/T 2912.1-2009": ("纺织品 甲醛的测定 第1部分：游离和水解的甲醛（水萃取法）", "Textiles – Formaldehyde – Part 1: Free and hydrolysed formaldehyde (water extraction)"),
    "ISO 14184-1:2011": ("纺织品 甲醛的测定 第1部分：游离和水解的甲醛（水萃取法）", "Textiles – Determination of formaldehyde – Part 1: Free and hydrolysed formaldehyde"),
    "GB/T 17592-2011": ("纺织品 禁用偶氮染料的测定", "Textiles – Determination of banned azo colourants"),
    "ISO 21149:2017": ("化妆品 微生物学 需氧嗜温细菌的计数和检测", "Cosmetics – Microbiology – Enumeration and detection of aerobic mesophilic bacteria"),
    "ISO 16212:2017": ("化妆品 微生物学 酵母菌和霉菌计数", "Cosmetics – Microbiology – Enumeration of yeast and mould"),
    "ISO 22717:2015": ("化妆品 微生物学 铜绿假单胞菌的检测", "Cosmetics – Microbiology – Detection of Pseudomonas aeruginosa"),
    "ISO 22718:2015": ("化妆品 微生物学 金黄色葡萄球菌的检测", "Cosmetics – Microbiology – Detection of Staphylococcus aureus"),
    "ISO 11930:2019": ("化妆品 微生物学 化妆品防腐效能评价", "Cosmetics – Microbiology – Evaluation of the antimicrobial protection of a cosmetic product"),
    "GB/T 18883-2022": ("室内空气质量标准", "Indoor Air Quality Standard"),
    "GB 50325-2020": ("民用建筑工程室内环境污染控制标准", "Standard for Indoor Environmental Pollution Control of Civil Building Engineering"),
    "GB/T 18204.2-2014": ("公共场所卫生检验方法 第2部分：化学污染物", "Examination methods for public places – Part 2: Chemical pollutants"),
    "GB/T 228.1-2021": ("金属材料 拉伸试验 第1部分：室温试验方法", "Metallic materials – Tensile testing – Part 1: Method of test at room temperature"),
    "ISO 6892-1:2019": ("金属材料 拉伸试验 第1部分：室温试验方法", "Metallic materials – Tensile testing – Part 1: Method of test at room temperature"),
    "ASTM E8/E8M-22": ("金属材料拉伸试验标准方法", "Standard Test Methods for Tension Testing of Metallic Materials"),
    "ISO 527-2:2012": ("塑料 拉伸性能的测定 第2部分：模塑和挤塑塑料的试验条件", "Plastics – Tensile properties – Part 2: Test conditions for moulding and extrusion plastics"),
    "ASTM D638-14": ("塑料拉伸性能标准试验方法", "Standard Test Method for Tensile Properties of Plastics"),
    "IEC 62321-3-1:2013": ("X射线荧光光谱法筛选铅、汞、镉、总铬和总溴", "Screening of Pb, Hg, Cd, total Cr and total Br by X-ray fluorescence"),
    "IEC 62321-5:2013": ("原子光谱法测定聚合物和电子件中的镉、铅、铬", "Cd, Pb and Cr in polymers and electronics by atomic spectrometry"),
    "IEC 62321-7-2:2017": ("比色法测定聚合物和电子件中的六价铬", "Hexavalent chromium in polymers and electronics by the colorimetric method"),
    "IEC 62321-6:2015": ("气相色谱-质谱法测定聚合物中的多溴联苯和多溴二苯醚", "PBBs and PBDEs in polymers by GC-MS"),
    "IEC 62321-8:2017": ("气相色谱-质谱法测定聚合物中的邻苯二甲酸酯", "Phthalates in polymers by GC-MS"),
    "GB 4789.2-2022": ("食品安全国家标准 食品微生物学检验 菌落总数测定", "Food microbiology – Aerobic plate count"),
    "GB 4789.3-2016": ("食品安全国家标准 食品微生物学检验 大肠菌群计数", "Food microbiology – Enumeration of coliforms"),
    "GB 4789.4-2016": ("食品安全国家标准 食品微生物学检验 沙门氏菌检验", "Food microbiology – Examination of Salmonella"),
    "GB 4789.10-2016": ("食品安全国家标准 食品微生物学检验 金黄色葡萄球菌检验", "Food microbiology – Examination of Staphylococcus aureus"),
    "EN 71-1:2014+A1:2018": ("玩具安全 第1部分：机械和物理性能", "Safety of toys – Part 1: Mechanical and physical properties"),
    "EN 71-2:2020": ("玩具安全 第2部分：燃烧性能", "Safety of toys – Part 2: Flammability"),
    "EN 71-3:2019+A1:2021": ("玩具安全 第3部分：特定元素的迁移", "Safety of toys – Part 3: Migration of certain elements"),
    "ASTM F963-23": ("玩具安全标准消费者安全规范", "Standard Consumer Safety Specification for Toy Safety"),
    "GB 6675.1-2014": ("玩具安全 第1部分：基本规范", "Toy safety – Part 1: Basic code"),
    "GB 31604.1-2023": ("食品安全国家标准 食品接触材料及制品迁移试验通则", "General rules for migration testing of food contact materials and articles"),
    "GB 31604.8-2021": ("食品安全国家标准 食品接触材料及制品 总迁移量的测定", "Food contact materials – Determination of overall migration"),
    "GB 31604.2-2016": ("食品安全国家标准 食品接触材料及制品 高锰酸钾消耗量的测定", "Food contact materials – Determination of potassium permanganate consumption"),
}


def A(zh, en, unit, lod, limit, kind="max", u=10, m=None):
    """An analyte: names, unit, method detection limit, regulatory limit,
    'max' (result must not exceed) or 'min' (result must reach), and the
    typical expanded relative uncertainty in percent."""
    return {"zh": zh, "en": en, "unit": unit, "lod": lod, "limit": limit, "kind": kind, "u": u, "method": m}


TESTS = [
    {
        "key": "drinking_water",
        "zh_name": "生活饮用水检测", "en_name": "drinking water testing",
        "zh_samples": ["自来水", "井水", "桶装水", "直饮机出水", "二次供水水箱水"],
        "en_samples": ["tap water", "well water", "bottled water", "water from a drinking fountain", "water from a rooftop storage tank"],
        "zh_limit": "GB 5749-2022《生活饮用水卫生标准》", "en_limit": "GB 5749-2022 (Standards for Drinking Water Quality)",
        "codes": ["GB 5749-2022", "GB/T 5750-2023"],
        "analytes": [A("铅", "lead (Pb)", "mg/L", 0.0025, 0.01, u=12, m="GB/T 5750.6-2023"), A("砷", "arsenic (As)", "mg/L", 0.001, 0.01, u=12, m="GB/T 5750.6-2023"),
                     A("硝酸盐（以N计）", "nitrate (as N)", "mg/L", 0.2, 10, u=8, m="GB/T 5750.5-2023"), A("氟化物", "fluoride", "mg/L", 0.1, 1.0, u=8, m="GB/T 5750.5-2023"),
                     A("浑浊度", "turbidity", "NTU", 0.5, 1, u=15, m="GB/T 5750.4-2023")],
        "zh_sample": "理化指标需2个1 L洁净聚乙烯瓶，微生物指标另需1个500 mL无菌采样瓶（采样瓶可向我们免费索取）",
        "en_sample": "two 1 L clean polyethylene bottles for the chemical parameters plus one 500 mL sterile bottle for microbiology (we send sampling bottles free of charge)",
        "zh_store": "采样后置于0–4 °C冷藏避光保存，微生物样品应在采样后24小时内送达实验室",
        "en_store": "keep the bottles at 0–4 °C in the dark and make sure the microbiology bottle reaches us within 24 hours of sampling",
        "tat": (5, 3), "price": (600, 4500),
        "zh_price_note": "常规20项套餐约600–1200元/样；GB 5749-2022全部97项约3500–4500元/样。",
        "en_price_note": "A routine 20-parameter panel is about CNY 600–1,200 per sample; the full 97-parameter GB 5749-2022 panel is about CNY 3,500–4,500.",
        "zh_tips": ["采样前先打开水龙头放水3–5分钟，避免取到管道里的滞留水。", "微生物采样瓶内已加入硫代硫酸钠，请不要用水冲洗瓶子。",
                    "测挥发性有机物的瓶子要装满，不留气泡。", "井水建议同时测硝酸盐、氟化物和微生物指标，这几项在农村井水中最容易超标。"],
        "en_tips": ["Run the tap for 3–5 minutes before sampling so you don't collect water that has been standing in the pipes.",
                    "The sterile bottle contains sodium thiosulfate to neutralise chlorine – please don't rinse it.",
                    "Fill bottles for volatile organics to the brim with no air bubbles.",
                    "For well water, include nitrate, fluoride and microbiology – the parameters that most often fail in rural wells."],
        "zh_scen": ["我家用的是自己打的井水，想知道能不能直接饮用", "小区二次供水水箱刚清洗完，物业要出具水质报告", "我们民宿准备开业，当地要求提供饮用水检测报告"],
        "en_scen": ["we rely on a private well at our farmhouse and want to know whether the water is safe to drink",
                    "our building's rooftop water tank was just cleaned and the property manager needs a water quality report",
                    "we're opening a guesthouse and the local authority wants a drinking water report"],
        "zh_desc": "样品：农村自备井水约3 L，昨天上午采集，已冷藏。\n用途：家庭饮用，想了解是否安全。",
        "en_desc": "Sample: outlet water from an office building's secondary supply tank, 3 bottles, collected this morning.\nPurpose: annual hygiene inspection required by the property manager.",
        "zh_params": ["感官性状和一般化学指标（色度、浑浊度、pH、总硬度等）", "微生物指标（菌落总数、总大肠菌群、大肠埃希氏菌）",
                      "毒理指标（铅、砷、镉、硝酸盐、氟化物）", "消毒剂指标（游离氯）"],
        "en_params": ["appearance and general chemistry (colour, turbidity, pH, total hardness)", "microbiology (total plate count, total coliforms, E. coli)",
                      "toxic substances (lead, arsenic, cadmium, nitrate, fluoride)", "disinfectant residual (free chlorine)"],
        "zh_std_note": "GB 5749-2022已于2023年4月1日起替代GB 5749-2006实施，指标从106项调整为97项。",
        "en_std_note": "GB 5749-2022 replaced GB 5749-2006 on 1 April 2023 and cut the parameter list from 106 to 97.",
        "zh_tat_note": "微生物指标需要培养48小时，所以即使加急也不能少于3个工作日。",
        "en_tat_note": "Microbiology needs 48 hours of incubation, so even the express service can't go below 3 working days.",
        "micro": True,
    },
    {
        "key": "wastewater",
        "zh_name": "废水排放检测", "en_name": "wastewater discharge testing",
        "zh_samples": ["工业废水", "生活污水", "污水处理站出水", "电镀车间排水"],
        "en_samples": ["industrial effluent", "domestic sewage", "treatment plant outlet water", "plating shop effluent"],
        "zh_limit": "GB 8978-1996《污水综合排放标准》", "en_limit": "GB 8978-1996 (Integrated Wastewater Discharge Standard)",
        "codes": ["GB 8978-1996", "HJ 828-2017", "HJ 535-2009", "HJ 505-2009", "GB/T 11893-1989"],
        "analytes": [A("化学需氧量（COD）", "chemical oxygen demand (COD)", "mg/L", 4, 100, u=10, m="HJ 828-2017"), A("氨氮", "ammonia nitrogen", "mg/L", 0.025, 15, u=8, m="HJ 535-2009"),
                     A("总磷", "total phosphorus", "mg/L", 0.01, 0.5, u=8, m="GB/T 11893-1989"), A("悬浮物", "suspended solids", "mg/L", 4, 70, u=12, m="GB/T 11901-1989")],
        "zh_sample": "每个采样点至少2 L：1 L聚乙烯瓶加硫酸酸化至pH<2，用于COD和氨氮；另1 L棕色玻璃瓶装满不留顶空，用于BOD5",
        "en_sample": "at least 2 L per sampling point: 1 L in a polyethylene bottle acidified with sulfuric acid to pH < 2 for COD and ammonia, and 1 L in a brown glass bottle filled to the top for BOD5",
        "zh_store": "0–4 °C冷藏运输，BOD5样品须在采样后24小时内开始分析",
        "en_store": "ship chilled at 0–4 °C; BOD5 analysis must start within 24 hours of sampling",
        "tat": (5, 3), "price": (80, 900),
        "zh_price_note": "单项约80–300元；COD、氨氮、总磷、悬浮物、pH五项常规套餐约600元/样，加BOD5约900元/样。",
        "en_price_note": "Single parameters cost about CNY 80–300; the routine five-parameter set (COD, ammonia, total phosphorus, suspended solids, pH) is about CNY 600 per sample, or CNY 900 with BOD5.",
        "zh_tips": ["排污许可或验收监测一般要求按规定频次采样，比如连续2天、每天4次。", "pH、溶解氧和水温最好在现场测定，放久了会变。",
                    "请注明废水来源和排放去向（直接排放还是进入城镇污水处理厂），适用的限值不同。"],
        "en_tips": ["Permit or acceptance monitoring usually specifies a sampling frequency, for example 4 times a day on 2 consecutive days.",
                    "pH, dissolved oxygen and temperature should be measured on site because they change in transit.",
                    "Tell us where the effluent goes (direct discharge or a municipal treatment plant) – the applicable limits differ."],
        "zh_scen": ["环保部门要求我们厂每季度提交废水监测数据", "我们的污水处理设备刚调试完，想看看出水达不达标"],
        "en_scen": ["the environmental bureau requires quarterly effluent monitoring data from our factory",
                    "we just commissioned a new wastewater treatment unit and want to check whether the outlet meets the limits"],
        "zh_desc": "样品：电镀车间总排口废水，瞬时采样，共2 L。\n用途：自查是否满足排放标准。",
        "en_desc": "Sample: outlet water from a food factory's treatment plant, 24-hour composite, 4 L, chilled.\nPurpose: quarterly report to the environmental bureau.",
        "zh_params": ["化学需氧量（COD）", "五日生化需氧量（BOD5）", "氨氮", "总磷", "悬浮物", "pH值", "行业特征污染物（如电镀废水的总铬、六价铬、镍）"],
        "en_params": ["COD", "BOD5", "ammonia nitrogen", "total phosphorus", "suspended solids", "pH",
                      "sector-specific pollutants (e.g. total chromium, hexavalent chromium and nickel for plating effluent)"],
        "zh_std_note": "如果当地或行业有更严格的排放标准（例如电镀行业的GB 21900-2008），应优先执行。",
        "en_std_note": "If a stricter local or sector standard applies (for example GB 21900-2008 for electroplating), that one takes precedence.",
        "zh_tat_note": "BOD5需要培养5天，所以含BOD5的项目最快也要5个工作日。",
        "en_tat_note": "BOD5 requires a 5-day incubation, so any package that includes it takes at least 5 working days.",
    },
    {
        "key": "pesticide",
        "zh_name": "果蔬农药残留检测", "en_name": "pesticide residue testing for fruit and vegetables",
        "zh_samples": ["草莓", "菠菜", "苹果", "茶叶", "蓝莓"],
        "en_samples": ["strawberries", "spinach", "apples", "tea leaves", "blueberries"],
        "zh_limit": "GB 2763-2021《食品中农药最大残留限量》", "en_limit": "GB 2763-2021 (Maximum Residue Limits for Pesticides in Food)",
        "codes": ["GB 2763-2021", "GB 23200.113-2018", "GB 23200.121-2021"],
        "analytes": [A("毒死蜱", "chlorpyrifos", "mg/kg", 0.01, 0.1, u=20, m="GB 23200.113-2018"), A("多菌灵", "carbendazim", "mg/kg", 0.01, 0.5, u=20, m="GB 23200.121-2021"),
                     A("吡虫啉", "imidacloprid", "mg/kg", 0.01, 0.5, u=20, m="GB 23200.121-2021"), A("腐霉利", "procymidone", "mg/kg", 0.01, 5, u=20, m="GB 23200.113-2018"),
                     A("啶虫脒", "acetamiprid", "mg/kg", 0.01, 2, u=20, m="GB 23200.121-2021")],
        "zh_sample": "至少1 kg可食部分（大个水果不少于5个），装入干净的聚乙烯袋，不要清洗",
        "en_sample": "at least 1 kg of the edible portion (no fewer than 5 units for large fruit) in a clean polyethylene bag, unwashed",
        "zh_store": "0–4 °C冷藏，用冰袋保温运输，48小时内送达；叶菜类不要冷冻",
        "en_store": "keep it chilled at 0–4 °C and ship with ice packs so it arrives within 48 hours; don't freeze leafy vegetables",
        "tat": (5, 3), "price": (200, 2500),
        "zh_price_note": "单个农药约200–400元；200余种农药的多残留筛查约1200–2500元/样。",
        "en_price_note": "A single pesticide costs about CNY 200–400; a multi-residue screen covering 200+ pesticides is about CNY 1,200–2,500 per sample.",
        "zh_tips": ["样品不要清洗、不要去皮，我们会按标准规定的取样部位制样。", "请告诉我们产品种类和产地，不同作物适用的限量不同。",
                    "出口产品应按进口国的MRL评价，例如欧盟按(EC) No 396/2005。"],
        "en_tips": ["Don't wash or peel the produce – we prepare the portion defined by the standard.",
                    "Tell us the commodity and origin, because MRLs differ between crops.",
                    "Export products should be judged against the importing country's MRLs, e.g. Regulation (EC) No 396/2005 for the EU."],
        "zh_scen": ["我们是生鲜超市，供应商送来的草莓需要抽检农残", "合作社的茶叶准备出口，客户要求提供农残报告"],
        "en_scen": ["we run a fresh-produce store and want to spot-check a supplier's strawberries",
                    "our cooperative is exporting tea and the buyer asked for a pesticide residue report"],
        "zh_desc": "样品：大棚菠菜约1.5 kg，今早采收，未清洗。\n用途：进入商超供货前自检。",
        "en_desc": "Sample: 2 kg of fresh blueberries harvested this week, packed in clamshells.\nPurpose: export to the EU; the buyer requires a residue certificate.",
        "zh_params": ["有机磷类（毒死蜱、敌敌畏等）", "拟除虫菊酯类（氯氰菊酯、高效氯氟氰菊酯等）", "新烟碱类（吡虫啉、啶虫脒）", "杀菌剂（多菌灵、腐霉利等）"],
        "en_params": ["organophosphates (chlorpyrifos, dichlorvos, etc.)", "pyrethroids (cypermethrin, lambda-cyhalothrin, etc.)",
                      "neonicotinoids (imidacloprid, acetamiprid)", "fungicides (carbendazim, procymidone, etc.)"],
        "zh_std_note": "GB 2763-2021共规定了564种农药的10092项最大残留限量。",
        "en_std_note": "GB 2763-2021 sets 10,092 maximum residue limits for 564 pesticides.",
    },
    {
        "key": "food_metals",
        "zh_name": "食品重金属检测", "en_name": "heavy metal testing in food",
        "zh_samples": ["大米", "婴幼儿米粉", "茶叶", "海带", "蜂蜜"],
        "en_samples": ["rice", "infant rice cereal", "tea", "dried kelp", "honey"],
        "zh_limit": "GB 2762-2022《食品中污染物限量》", "en_limit": "GB 2762-2022 (Limits of Contaminants in Food)",
        "codes": ["GB 2762-2022", "GB 5009.12-2023", "GB 5009.15-2023", "GB 5009.268-2016"],
        "analytes": [A("铅", "lead (Pb)", "mg/kg", 0.02, 0.2, u=15, m="GB 5009.12-2023"), A("镉", "cadmium (Cd)", "mg/kg", 0.002, 0.2, u=15, m="GB 5009.15-2023"),
                     A("无机砷", "inorganic arsenic", "mg/kg", 0.01, 0.2, u=18, m="GB 5009.11-2014"), A("总汞", "total mercury", "mg/kg", 0.003, 0.02, u=18, m="GB 5009.17-2021")],
        "zh_sample": "每个样品200 g以上，装在洁净的自封袋或玻璃瓶中，不要用金属容器",
        "en_sample": "at least 200 g per sample in a clean zip bag or glass jar – no metal containers",
        "zh_store": "干货常温保存即可，鲜品请冷藏运输",
        "en_store": "dry goods can travel at room temperature, fresh products should be chilled",
        "tat": (5, 3), "price": (150, 900),
        "zh_price_note": "单个元素约150–300元；铅、镉、总砷、总汞、铬五项套餐约600–900元/样。",
        "en_price_note": "A single element costs about CNY 150–300; a five-element pack (lead, cadmium, total arsenic, total mercury, chromium) is about CNY 600–900 per sample.",
        "zh_tips": ["取样和分装尽量用塑料或陶瓷工具，避免不锈钢带来铬、镍污染。", "如果要测无机砷，请提前说明，它和总砷是两种不同的方法。",
                    "水产品建议测甲基汞，而不是只测总汞。"],
        "en_tips": ["Use plastic or ceramic tools for sampling – stainless steel can add chromium and nickel.",
                    "If you need inorganic arsenic, say so up front; it is a different method from total arsenic.",
                    "For seafood, ask for methylmercury rather than total mercury only."],
        "zh_scen": ["我们自家种的大米想进超市，对方要重金属报告", "公司在做婴幼儿辅食，想做一次重金属摸底"],
        "en_scen": ["we grow our own rice and the supermarket we want to supply asks for a heavy metal report",
                    "we produce baby food and want a baseline heavy metal screen"],
        "zh_desc": "样品：湖南产早籼米2 kg，真空包装。\n用途：供应连锁超市，对方需要铅、镉数据。",
        "en_desc": "Sample: 500 g of dried kelp from a coastal supplier, sealed bag.\nPurpose: import check before relabelling for retail.",
        "zh_params": ["铅", "镉", "总砷或无机砷", "总汞", "铬"],
        "en_params": ["lead", "cadmium", "total or inorganic arsenic", "total mercury", "chromium"],
        "zh_std_note": "GB 2762-2022于2023年6月30日起实施，对部分食品的铅、镉限量做了收严。",
        "en_std_note": "GB 2762-2022 took effect on 30 June 2023 and tightened the lead and cadmium limits for several foods.",
    },
    {
        "key": "soil",
        "zh_name": "土壤重金属检测", "en_name": "soil heavy metal testing",
        "zh_samples": ["农田土壤", "菜地土", "工业场地土壤", "果园土"],
        "en_samples": ["farmland soil", "vegetable plot soil", "soil from a former industrial site", "orchard soil"],
        "zh_limit": "GB 15618-2018《土壤环境质量 农用地土壤污染风险管控标准（试行）》",
        "en_limit": "GB 15618-2018 (risk control standard for soil contamination of agricultural land)",
        "codes": ["GB 15618-2018", "GB 36600-2018", "HJ 491-2019", "HJ 680-2013", "GB/T 17141-1997"],
        "analytes": [A("镉", "cadmium (Cd)", "mg/kg", 0.01, 0.3, u=15, m="GB/T 17141-1997"), A("铅", "lead (Pb)", "mg/kg", 0.1, 70, u=12, m="GB/T 17141-1997"),
                     A("砷", "arsenic (As)", "mg/kg", 0.01, 40, u=12, m="HJ 680-2013"), A("汞", "mercury (Hg)", "mg/kg", 0.002, 1.3, u=15, m="HJ 680-2013"),
                     A("铬", "chromium (Cr)", "mg/kg", 4, 150, u=12, m="HJ 491-2019")],
        "zh_sample": "每个点位约1 kg新鲜土样（0–20 cm表层土，由5个分点混合而成），装入聚乙烯自封袋；测汞的样品另装棕色玻璃瓶",
        "en_sample": "about 1 kg of fresh soil per point (0–20 cm topsoil, a composite of five sub-samples) in a polyethylene zip bag, plus a brown glass jar for mercury",
        "zh_store": "常温避光运输即可，测汞和有机物的样品需4 °C冷藏",
        "en_store": "ship at room temperature away from light, except samples for mercury or organics, which should be kept at 4 °C",
        "tat": (7, 4), "price": (100, 1200),
        "zh_price_note": "单个元素约100–200元；GB 15618的8项重金属（镉、汞、砷、铅、铬、铜、镍、锌）加pH约800–1200元/样。",
        "en_price_note": "A single element costs about CNY 100–200; the eight GB 15618 metals (Cd, Hg, As, Pb, Cr, Cu, Ni, Zn) plus pH are about CNY 800–1,200 per sample.",
        "zh_tips": ["农用地的筛选值与土壤pH有关，所以一定要同时测pH。", "去掉石块和植物根系，但不要自己烘干或研磨，我们会按HJ/T 166规范制样。",
                    "场地调查的布点和采样应参照HJ 25.2，需要的话我们可以派人现场采样。"],
        "en_tips": ["Farmland screening values depend on soil pH, so always include pH.",
                    "Remove stones and roots, but don't dry or grind the soil yourself – we prepare it according to HJ/T 166.",
                    "For site investigations, sampling points should follow HJ 25.2; we can send a sampling team if needed."],
        "zh_scen": ["我们承包的农田旁边以前有个冶炼厂，担心土壤镉超标", "一块旧厂区要转为住宅开发，需要做土壤调查"],
        "en_scen": ["the farmland we lease is next to a former smelter and we worry about cadmium",
                    "an old factory plot is being redeveloped for housing and we need a soil investigation"],
        "zh_desc": "样品：菜地表层土5个混合样，每个约1 kg，已去除石块。\n用途：了解种植蔬菜是否安全。",
        "en_desc": "Sample: six composite topsoil samples from an orchard, about 1 kg each.\nPurpose: due diligence before we buy the land.",
        "zh_params": ["镉", "汞", "砷", "铅", "铬", "铜", "镍", "锌", "pH"],
        "en_params": ["cadmium", "mercury", "arsenic", "lead", "chromium", "copper", "nickel", "zinc", "pH"],
        "zh_std_note": "农用地用GB 15618-2018评价，建设用地则用GB 36600-2018，两者的限值差别很大。",
        "en_std_note": "Farmland is assessed against GB 15618-2018 and development land against GB 36600-2018; the limits differ a lot.",
        "zh_tat_note": "土样需要风干、研磨和过筛，光制样就要2–3天。",
        "en_tat_note": "Soil has to be air-dried, ground and sieved; preparation alone takes 2–3 days.",
    },
    {
        "key": "textile",
        "zh_name": "纺织品甲醛检测", "en_name": "formaldehyde testing for textiles",
        "zh_samples": ["婴儿连体衣", "校服", "床上用品", "窗帘面料", "纯棉T恤"],
        "en_samples": ["baby rompers", "school uniforms", "bed linen", "curtain fabric", "cotton T-shirts"],
        "zh_limit": "GB 18401-2010《国家纺织产品基本安全技术规范》", "en_limit": "GB 18401-2010 (National General Safety Technical Code for Textile Products)",
        "codes": ["GB 18401-2010", "GB/T 2912.1-2009", "ISO 14184-1:2011", "GB/T 17592-2011"],
        "analytes": [A("甲醛", "formaldehyde", "mg/kg", 20, 75, u=15, m="GB/T 2912.1-2009"), A("可分解致癌芳香胺", "banned aromatic amines", "mg/kg", 5, 20, u=20, m="GB/T 17592-2011")],
        "zh_sample": "面料约1 m²，或成衣2–3件，每件单独装入密封的聚乙烯袋",
        "en_sample": "about 1 m² of fabric or 2–3 finished garments, each sealed in its own polyethylene bag",
        "zh_store": "常温运输即可，但不要和其他产品混装，以免甲醛交叉污染",
        "en_store": "room temperature is fine, but don't pack them with other products because formaldehyde can transfer between items",
        "tat": (5, 3), "price": (150, 900),
        "zh_price_note": "单测甲醛约150–250元；GB 18401全套（甲醛、pH、色牢度、异味、可分解致癌芳香胺）约600–900元/款。",
        "en_price_note": "Formaldehyde alone costs about CNY 150–250; the full GB 18401 package (formaldehyde, pH, colour fastness, odour, banned aromatic amines) is about CNY 600–900 per style.",
        "zh_tips": ["请注明产品类别：A类（婴幼儿用品）、B类（直接接触皮肤）还是C类（非直接接触皮肤），限值不同。",
                    "婴幼儿和儿童服装除GB 18401外，还要符合GB 31701-2015。", "出口欧盟的服装还应关注REACH附件XVII对偶氮染料和镍释放的限制。"],
        "en_tips": ["Tell us the product category – A (infant articles), B (direct skin contact) or C (no direct skin contact) – because the limits differ.",
                    "Infant and children's clothing must also meet GB 31701-2015 in addition to GB 18401.",
                    "Garments for the EU should also be checked against the REACH Annex XVII restrictions on azo dyes and nickel release."],
        "zh_scen": ["我们是童装品牌，新一季的婴儿服要上架电商平台", "学校采购了一批校服，家长反映有刺鼻气味"],
        "en_scen": ["we're a children's clothing brand launching a new baby line on an e-commerce platform",
                    "a school bought new uniforms and parents complain about a strong smell"],
        "zh_desc": "样品：纯棉印花婴儿连体衣3件。\n用途：电商平台上架，要求提供GB 18401 A类报告。",
        "en_desc": "Sample: polyester blackout curtain fabric, 2 m × 1.5 m.\nPurpose: a hotel chain's procurement team requires a formaldehyde report.",
        "zh_params": ["甲醛含量", "pH值", "耐水、耐汗渍、耐摩擦色牢度", "异味", "可分解致癌芳香胺染料"],
        "en_params": ["formaldehyde content", "pH", "colour fastness to water, perspiration and rubbing", "odour", "banned aromatic amine dyes"],
        "zh_std_note": "甲醛限值：A类≤20 mg/kg，B类≤75 mg/kg，C类≤300 mg/kg。",
        "en_std_note": "The formaldehyde limits are ≤ 20 mg/kg for class A, ≤ 75 mg/kg for class B and ≤ 300 mg/kg for class C.",
        "zh_tat_note": "色牢度测试需要调湿和评级，加急最快也要3个工作日。",
        "en_tat_note": "Colour fastness needs conditioning and grading, so 3 working days is the fastest we can do.",
    },
    {
        "key": "cosmetics",
        "zh_name": "化妆品微生物检测", "en_name": "cosmetics microbiology testing",
        "zh_samples": ["面霜", "精华液", "洗发水", "手工皂", "眼霜"],
        "en_samples": ["face cream", "serum", "shampoo", "handmade soap", "eye cream"],
        "zh_limit": "《化妆品安全技术规范》（2015年版）", "en_limit": "China's Safety and Technical Standards for Cosmetics (2015 edition)",
        "codes": ["ISO 21149:2017", "ISO 16212:2017", "ISO 22717:2015", "ISO 22718:2015", "ISO 11930:2019"],
        "analytes": [A("菌落总数", "total aerobic count", "CFU/g", 10, 1000, u=30, m="ISO 21149:2017"), A("霉菌和酵母菌总数", "yeast and mould count", "CFU/g", 10, 100, u=30, m="ISO 16212:2017")],
        "zh_sample": "至少3个未开封的完整包装，总量不少于50 g（或50 mL）",
        "en_sample": "at least 3 unopened retail units with a total of no less than 50 g (or 50 mL)",
        "zh_store": "常温避光运输，不要冷藏或冷冻，也不要拆封分装",
        "en_store": "ship at room temperature away from light; don't refrigerate, freeze or decant the product",
        "tat": (5, 3), "price": (500, 5000),
        "zh_price_note": "常规5项微生物（菌落总数、霉菌和酵母菌、耐热大肠菌群、金黄色葡萄球菌、铜绿假单胞菌）约500–800元/样；防腐挑战试验约3000–5000元。",
        "en_price_note": "The routine five microbiology items (aerobic count, yeast and mould, thermotolerant coliforms, S. aureus, P. aeruginosa) cost about CNY 500–800 per sample; a preservative challenge test is about CNY 3,000–5,000.",
        "zh_tips": ["眼部、口唇和儿童化妆品的菌落总数限值更严，为≤500 CFU/g。", "新品上市前建议做一次防腐挑战试验（ISO 11930），确认防腐体系有效。",
                    "用于国产普通化妆品备案的报告，须由具备相应资质的检验机构出具。"],
        "en_tips": ["Eye, lip and children's products have a stricter aerobic count limit of ≤ 500 CFU/g.",
                    "Before launch, consider a preservative challenge test (ISO 11930) to confirm the preservative system works.",
                    "Reports used for product notification in China must come from a qualified testing institution."],
        "zh_scen": ["我们的手工护肤品牌准备推出一款新面霜", "有客户投诉说精华液开封一周后有异味"],
        "en_scen": ["our small skincare brand is about to launch a new face cream",
                    "a customer complained that our serum smelled odd a week after opening"],
        "zh_desc": "样品：保湿面霜50 g×3瓶，未开封，批号20240518。\n用途：上市前自检。",
        "en_desc": "Sample: 3 × 30 mL bottles of vitamin C serum, unopened, batch 2406A.\nPurpose: pre-launch quality check before EU distribution.",
        "zh_params": ["菌落总数", "霉菌和酵母菌总数", "耐热大肠菌群", "金黄色葡萄球菌", "铜绿假单胞菌"],
        "en_params": ["total aerobic count", "yeast and mould count", "thermotolerant coliforms", "Staphylococcus aureus", "Pseudomonas aeruginosa"],
        "zh_std_note": "普通化妆品菌落总数≤1000 CFU/g，霉菌和酵母菌总数≤100 CFU/g，三种致病菌不得检出。",
        "en_std_note": "For general cosmetics the aerobic count must be ≤ 1000 CFU/g, yeast and mould ≤ 100 CFU/g, and the three pathogens must be absent.",
        "zh_tat_note": "防腐挑战试验要在第7、14、28天取样，整个周期约30天。",
        "en_tat_note": "The preservative challenge test samples on days 7, 14 and 28, so it takes about 30 days.",
        "micro": True,
    },
    {
        "key": "indoor_air",
        "zh_name": "室内空气甲醛/VOC检测", "en_name": "indoor air formaldehyde and VOC testing",
        "zh_samples": ["新装修的住宅", "幼儿园教室", "办公室", "酒店客房"],
        "en_samples": ["a newly renovated flat", "a kindergarten classroom", "an office", "hotel rooms"],
        "zh_limit": "GB/T 18883-2022《室内空气质量标准》", "en_limit": "GB/T 18883-2022 (Indoor Air Quality Standard)",
        "codes": ["GB/T 18883-2022", "GB 50325-2020", "GB/T 18204.2-2014"],
        "analytes": [A("甲醛", "formaldehyde", "mg/m³", 0.01, 0.08, u=15, m="GB/T 18204.2-2014"), A("苯", "benzene", "mg/m³", 0.005, 0.03, u=20, m="GB/T 18883-2022"),
                     A("总挥发性有机物（TVOC）", "TVOC", "mg/m³", 0.05, 0.6, u=20, m="GB/T 18883-2022"), A("甲苯", "toluene", "mg/m³", 0.01, 0.2, u=20, m="GB/T 18883-2022")],
        "zh_sample": "由我们的工程师上门采样，按房间面积布点：小于50 m²设1个点，50–100 m²设2个点",
        "en_sample": "on-site sampling by our engineer, with points set by room area – one point for rooms under 50 m², two for 50–100 m²",
        "zh_store": "采样前需关闭门窗12小时，采样期间不要吸烟、开空气净化器或频繁走动",
        "en_store": "keep doors and windows closed for 12 hours before sampling, and avoid smoking, air purifiers or people walking around while we sample",
        "tat": (3, 2), "price": (300, 2000),
        "zh_price_note": "每个点位（甲醛、苯、甲苯、二甲苯、TVOC）约300–500元，普通住宅一般3–4个点位，起步价800元。",
        "en_price_note": "Each sampling point (formaldehyde, benzene, toluene, xylene, TVOC) is about CNY 300–500; a typical home needs 3–4 points, with a minimum charge of CNY 800.",
        "zh_tips": ["家具摆放到位后再检测，结果才能反映实际入住状态。", "温度会影响甲醛释放，冬季检测结果往往偏低。",
                    "竣工验收执行GB 50325-2020，入住后的空气质量评价执行GB/T 18883-2022，两者的要求不同。"],
        "en_tips": ["Test after the furniture is in place so the result reflects real living conditions.",
                    "Temperature drives formaldehyde emission, so winter results tend to be lower.",
                    "Completion acceptance follows GB 50325-2020, while air quality in occupied rooms is judged against GB/T 18883-2022; the requirements differ."],
        "zh_scen": ["房子装修完三个月了，准备带孩子入住，想测一下甲醛", "幼儿园暑假翻新了教室，开学前需要验收报告"],
        "en_scen": ["our flat was renovated three months ago and we want to check formaldehyde before moving in with a baby",
                    "a kindergarten redecorated its classrooms over the summer and needs an acceptance report before term starts"],
        "zh_desc": "现场：三居室约110 m²，装修完工2个月，家具已进场。\n用途：入住前检测。",
        "en_desc": "Site: open-plan office of about 400 m², new carpet and partitions installed last month.\nPurpose: staff complain about headaches and management wants data.",
        "zh_params": ["甲醛", "苯", "甲苯", "二甲苯", "总挥发性有机物（TVOC）", "氡（如有地下室）"],
        "en_params": ["formaldehyde", "benzene", "toluene", "xylene", "TVOC", "radon (if there is a basement)"],
        "zh_std_note": "GB/T 18883-2022规定甲醛≤0.08 mg/m³、苯≤0.03 mg/m³（1小时均值），TVOC≤0.60 mg/m³（8小时均值）。",
        "en_std_note": "GB/T 18883-2022 sets 0.08 mg/m³ for formaldehyde and 0.03 mg/m³ for benzene (1-hour averages) and 0.60 mg/m³ for TVOC (8-hour average).",
        "zh_tat_note": "周期从现场采样当天开始计算，而不是从预约当天开始。",
        "en_tat_note": "The clock starts on the day of on-site sampling, not the day you book.",
        "onsite": True,
    },
    {
        "key": "tensile",
        "zh_name": "材料拉伸性能测试", "en_name": "tensile testing of materials",
        "zh_samples": ["钢筋", "铝合金型材", "3D打印尼龙件", "不锈钢板", "注塑塑料样条"],
        "en_samples": ["steel rebar", "aluminium extrusions", "3D-printed nylon parts", "stainless steel plate", "injection-moulded plastic bars"],
        "zh_limit": "产品标准或合同规定的技术要求（例如钢筋按GB/T 1499.2-2018）", "en_limit": "the product specification or contract requirement (for rebar, GB/T 1499.2-2018)",
        "codes": ["GB/T 228.1-2021", "ISO 6892-1:2019", "ASTM E8/E8M-22", "ISO 527-2:2012", "ASTM D638-14"],
        "analytes": [A("抗拉强度Rm", "tensile strength Rm", "MPa", None, 540, kind="min", u=2, m="GB/T 228.1-2021"), A("下屈服强度ReL", "lower yield strength ReL", "MPa", None, 400, kind="min", u=2, m="GB/T 228.1-2021"),
                     A("断后伸长率A", "elongation after fracture A", "%", None, 16, kind="min", u=4, m="GB/T 228.1-2021")],
        "zh_sample": "每种状态至少3根试样（建议5根）；如需我们加工，请提供足够的原材料，例如板材不小于300 mm×200 mm",
        "en_sample": "at least 3 specimens per condition (5 recommended); if we machine them, send enough raw material – for plate, at least 300 mm × 200 mm",
        "zh_store": "常温运输，金属样品注意防锈、防弯折，塑料样条请注明是否已做状态调节",
        "en_store": "room temperature is fine; protect metal from rust and bending, and tell us whether plastic bars have been conditioned",
        "tat": (3, 1), "price": (150, 300),
        "zh_price_note": "室温拉伸每根约150–300元；试样加工每根50–150元；高温或低温拉伸另行报价。",
        "en_price_note": "Room-temperature tensile tests cost about CNY 150–300 per specimen; machining is CNY 50–150 per specimen; elevated- or low-temperature tests are quoted separately.",
        "zh_tips": ["请注明取样方向（纵向或横向），轧制材料两个方向的性能可能差别较大。", "钢筋一般不加工，直接按原截面拉伸，每根长度至少500 mm。",
                    "塑料试样测试前需按ISO 291在23 °C、50%RH环境中状态调节。"],
        "en_tips": ["Tell us the specimen orientation (longitudinal or transverse); rolled material can differ a lot between directions.",
                    "Rebar is normally tested at full cross-section without machining; each piece should be at least 500 mm long.",
                    "Plastic specimens must be conditioned at 23 °C and 50 % RH according to ISO 291 before testing."],
        "zh_scen": ["我们采购了一批钢筋，想核实供应商质保书上的力学数据", "公司用3D打印做了一批尼龙结构件，要确认强度"],
        "en_scen": ["we bought a batch of rebar and want to verify the mechanical properties on the mill certificate",
                    "we 3D-printed some nylon brackets and need to confirm their strength"],
        "zh_desc": "样品：HRB400E钢筋，直径16 mm，长600 mm，共3根。\n用途：进场复检。",
        "en_desc": "Sample: 6061-T6 aluminium plate, 10 mm thick, 400 × 300 mm.\nPurpose: verify the supplier's certificate; we need yield strength, tensile strength and elongation.",
        "zh_params": ["上/下屈服强度", "抗拉强度", "断后伸长率", "最大力总延伸率（钢筋）", "断面收缩率（如有要求）"],
        "en_params": ["upper/lower yield strength", "tensile strength", "elongation after fracture", "total elongation at maximum force (for rebar)", "reduction of area (if required)"],
        "zh_std_note": "金属材料按GB/T 228.1-2021或ISO 6892-1:2019，出口美国常用ASTM E8/E8M；塑料按ISO 527-2或ASTM D638。",
        "en_std_note": "Metals are tested to GB/T 228.1-2021 or ISO 6892-1:2019, with ASTM E8/E8M common for the US; plastics to ISO 527-2 or ASTM D638.",
        "zh_tat_note": "如果需要我们加工试样，会额外增加2–3个工作日。",
        "en_tat_note": "If we have to machine the specimens, add 2–3 working days.",
        "mech": True,
    },
    {
        "key": "rohs",
        "zh_name": "RoHS有害物质检测", "en_name": "RoHS testing",
        "zh_samples": ["LED灯具", "电源线", "电路板", "塑料外壳", "充电器"],
        "en_samples": ["LED lamps", "power cords", "PCB assemblies", "plastic housings", "phone chargers"],
        "zh_limit": "欧盟RoHS指令2011/65/EU及其修订指令(EU) 2015/863", "en_limit": "EU RoHS Directive 2011/65/EU as amended by (EU) 2015/863",
        "codes": ["IEC 62321-3-1:2013", "IEC 62321-5:2013", "IEC 62321-7-2:2017", "IEC 62321-6:2015", "IEC 62321-8:2017"],
        "analytes": [A("铅", "lead (Pb)", "mg/kg", 2, 1000, u=12, m="IEC 62321-5:2013"), A("镉", "cadmium (Cd)", "mg/kg", 2, 100, u=12, m="IEC 62321-5:2013"),
                     A("汞", "mercury (Hg)", "mg/kg", 2, 1000, u=15, m="IEC 62321-4:2013"), A("邻苯二甲酸二(2-乙基己基)酯（DEHP）", "DEHP", "mg/kg", 50, 1000, u=20, m="IEC 62321-8:2017")],
        "zh_sample": "按均质材料拆分，每种材料5–10 g；整机送样请提供2–3台并附物料清单（BOM）",
        "en_sample": "5–10 g of each homogeneous material; for finished products send 2–3 units together with the bill of materials (BOM)",
        "zh_store": "常温运输，小零件请分袋包装并标注部件名称",
        "en_store": "room temperature is fine; bag small parts separately and label each with the part name",
        "tat": (5, 3), "price": (80, 1500),
        "zh_price_note": "XRF筛选每个测试点约80–150元；10项化学法全测约800–1500元/材料。",
        "en_price_note": "XRF screening is about CNY 80–150 per test point; full chemical testing of all 10 substances is about CNY 800–1,500 per material.",
        "zh_tips": ["先用XRF快速筛选，只有结果落在灰区的材料才需要化学法确认，能省不少费用。", "RoHS限值针对的是均质材料，不是整机。",
                    "请提供BOM，方便我们把相同材料合并测试。"],
        "en_tips": ["Screen with XRF first and confirm chemically only the materials that fall in the grey zone – it saves a lot.",
                    "RoHS limits apply to each homogeneous material, not to the whole product.",
                    "Send the BOM so we can group identical materials and test them once."],
        "zh_scen": ["我们的LED灯要出口德国，客户要RoHS报告", "线缆厂换了一家PVC料供应商，需要重新验证"],
        "en_scen": ["we're exporting LED lamps to Germany and the customer wants a RoHS report",
                    "our cable factory switched PVC compound suppliers and needs to re-verify compliance"],
        "zh_desc": "样品：USB充电器整机3台，外壳为PC/ABS，附BOM。\n用途：出口欧盟CE技术文件。",
        "en_desc": "Sample: 5 m of black PVC-insulated power cord with a moulded plug.\nPurpose: customer audit covering the 10 EU RoHS substances.",
        "zh_params": ["铅、镉、汞、六价铬", "多溴联苯（PBBs）和多溴二苯醚（PBDEs）", "四种邻苯二甲酸酯（DEHP、BBP、DBP、DIBP）"],
        "en_params": ["lead, cadmium, mercury and hexavalent chromium", "PBBs and PBDEs", "the four phthalates DEHP, BBP, DBP and DIBP"],
        "zh_std_note": "镉的限值为0.01%（100 mg/kg），其余九项均为0.1%（1000 mg/kg）；国内可参照GB/T 26572-2011。",
        "en_std_note": "Cadmium is limited to 0.01 % (100 mg/kg) and the other nine substances to 0.1 % (1000 mg/kg); the Chinese counterpart is GB/T 26572-2011.",
        "zh_tat_note": "只做XRF筛选的话，1–2个工作日即可出结果。",
        "en_tat_note": "XRF screening alone can be done in 1–2 working days.",
    },
    {
        "key": "food_micro",
        "zh_name": "食品微生物检测", "en_name": "food microbiology testing",
        "zh_samples": ["蛋糕", "卤味熟食", "速冻水饺", "鲜榨果汁", "即食沙拉"],
        "en_samples": ["cakes", "cooked braised meats", "frozen dumplings", "fresh juice", "ready-to-eat salads"],
        "zh_limit": "GB 29921-2021《食品中致病菌限量》及相应的产品标准", "en_limit": "GB 29921-2021 (Limits of Pathogens in Food) and the relevant product standard",
        "codes": ["GB 4789.2-2022", "GB 4789.3-2016", "GB 4789.4-2016", "GB 4789.10-2016"],
        "analytes": [A("菌落总数", "aerobic plate count", "CFU/g", 10, 100000, u=30, m="GB 4789.2-2022"), A("大肠菌群", "coliforms", "CFU/g", 10, 100, u=30, m="GB 4789.3-2016")],
        "zh_sample": "同一批次5个独立包装（对应n=5的采样方案），每个不少于200 g，保持原包装",
        "en_sample": "five separate packages from the same batch (for the n = 5 sampling plan), at least 200 g each, in original packaging",
        "zh_store": "冷链运输：冷藏食品0–4 °C，冷冻食品−18 °C以下，24小时内送达",
        "en_store": "use a cold chain – chilled foods at 0–4 °C, frozen foods below −18 °C – and deliver within 24 hours",
        "tat": (5, 3), "price": (150, 1200),
        "zh_price_note": "菌落总数加大肠菌群约200–350元/样；每种致病菌（沙门氏菌、金黄色葡萄球菌、单核细胞增生李斯特氏菌等）另加150–300元。",
        "en_price_note": "Aerobic plate count plus coliforms is about CNY 200–350 per sample; each pathogen (Salmonella, S. aureus, Listeria monocytogenes, etc.) adds CNY 150–300.",
        "zh_tips": ["微生物判定采用n、c、m、M的采样方案，所以5个样品缺一不可。", "不要打开包装分装，否则可能引入污染。",
                    "如果是企业出厂检验，可以参照产品标准只测规定项目。"],
        "en_tips": ["Microbiological criteria use an n, c, m, M sampling plan, so all five units are needed.",
                    "Don't open and repack the product – that can introduce contamination.",
                    "For routine release testing you can limit the scope to the items in your product standard."],
        "zh_scen": ["我们烘焙店要上新一款奶油蛋糕，想做微生物检测", "中央厨房给学校配餐，需要定期抽检"],
        "en_scen": ["our bakery is launching a new cream cake and wants microbiology testing",
                    "our central kitchen supplies school meals and needs routine checks"],
        "zh_desc": "样品：速冻猪肉水饺500 g×5袋，同一批次。\n用途：入驻电商平台需要的资质材料。",
        "en_desc": "Sample: cold-pressed orange juice, 5 × 300 mL bottles from one batch, kept chilled.\nPurpose: shelf-life study, day-0 results.",
        "zh_params": ["菌落总数", "大肠菌群", "沙门氏菌", "金黄色葡萄球菌", "单核细胞增生李斯特氏菌（即食食品）"],
        "en_params": ["aerobic plate count", "coliforms", "Salmonella", "Staphylococcus aureus", "Listeria monocytogenes (ready-to-eat foods)"],
        "zh_std_note": "致病菌按GB 29921-2021判定，菌落总数和大肠菌群则看具体产品标准，例如糕点按GB 7099-2015。",
        "en_std_note": "Pathogens are judged against GB 29921-2021; aerobic count and coliform limits come from the product standard, e.g. GB 7099-2015 for pastries.",
        "zh_tat_note": "阴性结果5个工作日出报告；如果出现可疑菌落，还需要2–3天做确证。",
        "en_tat_note": "Negative results are reported in 5 working days; a presumptive positive needs another 2–3 days for confirmation.",
        "micro": True,
    },
    {
        "key": "toys",
        "zh_name": "玩具安全检测", "en_name": "toy safety testing",
        "zh_samples": ["木制积木", "毛绒玩具", "塑料拼插玩具", "儿童画笔", "橡皮泥"],
        "en_samples": ["wooden blocks", "plush toys", "plastic construction sets", "children's markers", "modelling clay"],
        "zh_limit": "欧盟EN 71系列（出口美国为ASTM F963-23，国内为GB 6675-2014系列）", "en_limit": "the EN 71 series for the EU (ASTM F963-23 for the US, the GB 6675-2014 series for China)",
        "codes": ["EN 71-1:2014+A1:2018", "EN 71-2:2020", "EN 71-3:2019+A1:2021", "ASTM F963-23", "GB 6675.1-2014"],
        "analytes": [A("可迁移铅（第III类材料）", "migratable lead (category III)", "mg/kg", 1, 23, u=20, m="EN 71-3:2019+A1:2021"), A("可迁移镉（第III类材料）", "migratable cadmium (category III)", "mg/kg", 0.5, 17, u=20, m="EN 71-3:2019+A1:2021"),
                     A("可迁移锑（第III类材料）", "migratable antimony (category III)", "mg/kg", 5, 560, u=20, m="EN 71-3:2019+A1:2021")],
        "zh_sample": "成品至少3–5件（毛绒玩具建议5件），涂层或小零件较多的产品请多备1–2件",
        "en_sample": "at least 3–5 finished units (5 for plush toys), plus 1–2 extra if the toy has many coatings or small parts",
        "zh_store": "原包装常温运输，并附上说明书、警示标签和适用年龄",
        "en_store": "ship in retail packaging at room temperature, together with instructions, warning labels and the intended age range",
        "tat": (7, 4), "price": (600, 2800),
        "zh_price_note": "EN 71-1/-2/-3三项约1500–2800元/款；单做EN 71-3可迁移元素约600–1200元，视材料数量而定。",
        "en_price_note": "EN 71-1, -2 and -3 together cost about CNY 1,500–2,800 per item; EN 71-3 element migration alone is about CNY 600–1,200 depending on the number of materials.",
        "zh_tips": ["适用年龄直接决定测试项目，例如36个月以下的玩具要做小零件测试。", "EN 71-3按材料分三类限值，请不要把不同颜色的涂层混在一起送样。",
                    "木制玩具的涂料最好单独提供一块样板。"],
        "en_tips": ["The intended age decides the test scope – toys for under-36-months need the small parts test, for example.",
                    "EN 71-3 has three material categories with different limits, so don't mix different coloured coatings in one sample.",
                    "For wooden toys, send a separate panel painted with each coating if you can."],
        "zh_scen": ["我们做木制积木，准备通过跨境电商卖到德国", "工厂接了一个美国客户的毛绒玩具订单"],
        "en_scen": ["we make wooden blocks and plan to sell them on Amazon Germany", "our factory got an order for plush toys from a US customer"],
        "zh_desc": "样品：彩色木制积木一套（50块，水性漆），适用年龄1岁以上。\n用途：出口欧盟CE认证。",
        "en_desc": "Sample: 30 cm plush teddy bear with embroidered eyes, age 0+.\nPurpose: a US retailer requires ASTM F963 and total lead testing.",
        "zh_params": ["机械物理性能（小零件、锐边、尖端）", "燃烧性能", "19种可迁移元素", "警示标识审核"],
        "en_params": ["mechanical and physical properties (small parts, sharp edges and points)", "flammability", "migration of 19 elements", "review of warnings and labels"],
        "zh_std_note": "EN 71-3把材料分为三类：干燥易碎类、液体或黏性类、可刮取类，每类限值不同。",
        "en_std_note": "EN 71-3 sorts materials into three categories – dry and brittle, liquid or sticky, and scraped-off – each with its own limits.",
    },
    {
        "key": "fcm",
        "zh_name": "食品接触材料迁移检测", "en_name": "migration testing of food contact materials",
        "zh_samples": ["塑料饭盒", "咖啡杯盖", "硅胶模具", "保鲜膜", "塑料水杯"],
        "en_samples": ["plastic lunch boxes", "coffee cup lids", "silicone baking moulds", "cling film", "plastic tumblers"],
        "zh_limit": "GB 4806系列产品标准（塑料为GB 4806.7-2023），出口欧盟按(EU) No 10/2011", "en_limit": "the GB 4806 product standards (GB 4806.7-2023 for plastics), or Regulation (EU) No 10/2011 for the EU",
        "codes": ["GB 31604.1-2023", "GB 31604.8-2021", "GB 31604.2-2016"],
        "analytes": [A("总迁移量", "overall migration", "mg/dm²", 1, 10, u=15, m="GB 31604.8-2021"), A("高锰酸钾消耗量", "potassium permanganate consumption", "mg/kg", 1, 10, u=15, m="GB 31604.2-2016"),
                     A("重金属（以Pb计）", "heavy metals (as Pb)", "mg/kg", 0.2, 1, u=20, m="GB 31604.9-2016")],
        "zh_sample": "同款产品6–10件，或片材约1 m²，并说明接触的食品类型、使用温度和时间",
        "en_sample": "6–10 identical articles or about 1 m² of sheet, plus the intended food type, temperature and contact time",
        "zh_store": "常温运输，用干净的包装纸包好，避免摩擦和沾污",
        "en_store": "room temperature is fine; wrap the items in clean paper to avoid scratches and contamination",
        "tat": (7, 5), "price": (1200, 6000),
        "zh_price_note": "GB 4806.x国标全套约1200–2500元/样；欧盟10/2011总迁移加特定迁移约3000–6000元。",
        "en_price_note": "A full GB 4806.x package is about CNY 1,200–2,500 per sample; EU 10/2011 overall plus specific migration is about CNY 3,000–6,000.",
        "zh_tips": ["迁移试验的条件（模拟物、温度、时间）由实际使用条件决定，例如可微波加热的饭盒要按高温条件测试。",
                    "请提供材质信息（PP、PET、硅橡胶等），不同材质适用的产品标准不同。", "多层复合材料请说明各层的材质。"],
        "en_tips": ["Migration conditions (simulant, temperature, time) follow the real use, so a microwaveable lunch box is tested at high temperature.",
                    "Tell us the material (PP, PET, silicone rubber, etc.), because each has its own product standard.",
                    "For multilayer materials, describe each layer."],
        "zh_scen": ["我们生产PP塑料饭盒，经销商要国标检测报告", "咖啡连锁店更换了杯盖供应商，想确认安全性"],
        "en_scen": ["we manufacture PP lunch boxes and a distributor wants a GB test report", "our coffee chain changed its cup-lid supplier and wants to confirm safety"],
        "zh_desc": "样品：PP材质微波饭盒，1000 mL，共10个。\n用途：经销商要求GB 4806.7全项报告。",
        "en_desc": "Sample: 12 food-grade silicone baking moulds, used up to 230 °C.\nPurpose: export to France; the buyer asks for EU food-contact compliance.",
        "zh_params": ["总迁移量", "高锰酸钾消耗量", "重金属（以Pb计）", "脱色试验", "特定迁移（如锑、增塑剂，视材质而定）"],
        "en_params": ["overall migration", "potassium permanganate consumption", "heavy metals (as Pb)", "decolourisation test", "specific migration (e.g. antimony or plasticisers, depending on the material)"],
        "zh_std_note": "GB 4806.7-2023已替代2016版，对塑料原料和添加剂的要求做了更新。",
        "en_std_note": "GB 4806.7-2023 replaced the 2016 edition and updated the requirements for plastic resins and additives.",
        "zh_tat_note": "迁移试验本身要在规定温度下浸泡几小时到10天不等，所以周期较长。",
        "en_tat_note": "The migration exposure itself lasts from a few hours up to 10 days at the specified temperature, which is why it takes longer.",
    },
]

SYSTEM_ZH = [
    "你是华测实验室的客服助手，回答要准确、简洁。",
    "你是一家第三方检测实验室的检测顾问，熟悉国标和国际标准。",
    "你是华测实验室的在线顾问，负责解答客户关于送样、周期和报价的问题。",
    "你是检测行业的客服专员，语气礼貌专业，不确定时建议客户联系工程师。",
    "你是华测实验室的AI助手，用中文回答客户咨询。",
    "你是一名经验丰富的实验室业务顾问，请根据客户需求推荐合适的检测方案。",
]
SYSTEM_EN = [
    "You are the customer support assistant of Huace Lab. Answer accurately and concisely.",
    "You are a testing consultant at an ISO/IEC 17025 accredited third-party laboratory.",
    "You are Huace Lab's online advisor. Help customers with sampling, turnaround and pricing questions.",
    "You are a friendly and precise lab support agent. When unsure, suggest contacting an engineer.",
    "You are an AI assistant for a commercial testing laboratory. Reply in English.",
    "You are an experienced laboratory account manager who recommends suitable test programmes.",
]

PREFIX_ZH = ["", "", "您好，", "你好，", "老师好，", "打扰一下，", "咨询一下，"]
PREFIX_EN = ["", "", "Hi, ", "Hello! ", "Quick question: ", "Good morning. ", "Hi there – "]
SUFFIX_ZH = ["", "", "", "谢谢。", "谢谢！"]
SUFFIX_EN = ["", "", "", " Thanks.", " Thanks in advance!"]

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

KEEP_CASE = ("I ", "I'", "RoHS", "EN ", "GB", "ISO", "ASTM", "CNAS", "CMA", "EU", "US", "BOD", "COD", "TVOC", "VAT", "NDA", "ND")


def cap(s):
    return s[:1].upper() + s[1:]


def lower_first(s):
    if s.startswith(KEEP_CASE):
        return s
    return s[:1].lower() + s[1:]


def g(x):
    """Print a constant (detection limit, limit) without trailing zeros."""
    return f"{x:g}" if x < 1e6 else f"{x:.0f}"


def fmt_val(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    d = -int(math.floor(math.log10(v))) + 1
    return f"{v:.{d}f}"


def cny(x, lang):
    return f"{x}元" if lang == "zh" else f"CNY {x:,}"


def bullets(items, lang, numbered=False):
    out = []
    for i, it in enumerate(items, 1):
        out.append(f"{i}. {it}" if numbered else f"- {it}")
    return "\n".join(out)


def join_list(items, lang):
    if lang == "zh":
        return "、".join(items)
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def methods_text(t, lang, n=None):
    codes = [c for c in t["codes"] if c in STD_TITLES and c not in t["en_limit"]]
    if n:
        codes = codes[:n]
    return join_list(codes, lang)


def T(t, lang, field):
    return t[f"{lang}_{field}"]


class Ctx:
    """Random source plus bookkeeping shared by all builders."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.used_user = {}      # every user turn text -> True
        self.used_instr = {}     # every instruction text -> True
        self.used_context = {}   # scenario/description strings already used

    def choice(self, seq):
        return self.rng.choice(seq)

    def wrap_q(self, lang, q):
        pre = self.choice(PREFIX_ZH if lang == "zh" else PREFIX_EN)
        suf = self.choice(SUFFIX_ZH if lang == "zh" else SUFFIX_EN)
        if lang == "en" and pre and not pre.endswith((". ", "! ")):
            q = lower_first(q)
        return pre + q + suf


def assemble(ctx, core, rest, closing=None, kmax=None):
    """core + a random subset of rest (kept in order) + maybe closing.

    A target length is drawn uniformly between the core alone and the full
    answer, and components are added in random order until it is reached;
    this gives a smooth spread of answer lengths."""
    full = len(core) + sum(len(x) + 2 for x in rest)
    u = ctx.rng.random()
    if u < 0.15:
        u = 0.0                      # a one-sentence answer
    elif any("\u4e00" <= ch <= "\u9fff" for ch in core):
        u = u ** 0.7                 # Chinese is denser: lean towards fuller answers
    target = len(core) + (full - len(core)) * u
    perm = list(range(len(rest)))
    ctx.rng.shuffle(perm)
    chosen, length = [], len(core)
    for i in perm:
        if length >= target - 1e-9 or (kmax is not None and len(chosen) >= kmax):
            break
        chosen.append(i)
        length += len(rest[i]) + 2
    parts = [core] + [rest[i] for i in sorted(chosen)]
    if closing and len(chosen) >= 2 and ctx.rng.random() < 0.6:
        parts.append(closing)
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------
# Generic answer components (used to make long answers longer)
# ---------------------------------------------------------------------------

GEN = {
    "form": {
        "en": "The application form should include:\n" + "\n".join([
            "1. company name, contact person, phone and email",
            "2. sample name, sample ID, quantity and any hazards",
            "3. the parameters and the standard to test or evaluate against",
            "4. whether you need a pass/fail statement, and which decision rule",
            "5. report language, number of paper copies and invoice details"]),
        "zh": "申请单需要填写：\n" + "\n".join([
            "1. 公司名称、联系人、电话和邮箱", "2. 样品名称、编号、数量，以及是否有危险特性", "3. 检测项目和检测/判定依据的标准",
            "4. 是否需要给出合格判定，以及采用的判定规则", "5. 报告语言、纸质报告份数和开票信息"]),
    },
    "structure": {
        "en": "Our reports follow the same structure:\n" + "\n".join([
            "1. cover page with the report number, client and sample information, and the dates of receipt and testing",
            "2. results table: parameter, result, unit, detection limit, limit, method and conclusion",
            "3. notes on the decision rule, any deviations from the method and any subcontracted work",
            "4. signatures of the analyst, the reviewer and the authorised signatory",
            "5. an annex with photos of the sample as received"]),
        "zh": "我们的报告结构统一如下：\n" + "\n".join([
            "1. 封面：报告编号、委托方和样品信息、收样和检测日期", "2. 结果表：检测项目、结果、单位、检出限、限值、方法和单项结论",
            "3. 备注：判定规则、方法偏离和分包情况", "4. 签字：检测人、审核人和授权签字人", "5. 附件：来样照片"]),
    },
    "verify": {
        "en": "Every report carries a QR code and a verification code. Scan it, or enter the report number on our online portal, to confirm that the report is genuine and has not been altered.",
        "zh": "每份报告都带有二维码和防伪校验码，扫码或在我们的网上平台输入报告编号，就能核实报告真伪、确认内容未被篡改。",
    },
    "tracking": {
        "en": "You can follow progress in our online portal or WeChat mini-program (received, in testing, under review, issued), and we send a text message as soon as the report is ready.",
        "zh": "您可以在网上平台或微信小程序查看进度（已收样、检测中、审核中、已签发），报告出来后我们会短信通知您。",
    },
    "about": {
        "en": f"A bit about us: {LAB_EN} has been testing since 2009, with over 300 staff and chemistry, microbiology, materials and environmental laboratories in Suzhou. Almost everything is tested in-house; only a few specialised parameters go to accredited partner labs.",
        "zh": f"简单介绍一下：{LAB_ZH}成立于2009年，在苏州有300多名员工，设有化学、微生物、材料和环境实验室。绝大多数项目都在本实验室完成，只有少数特殊项目分包给有资质的合作实验室。",
    },
    "lod_verify": {
        "en": "We determine detection limits during method validation and check them again every year: at least seven spiked blanks near the expected level are analysed, and the LOD is calculated from their standard deviation.",
        "zh": "检出限在方法验证时确定，并且每年复核一次：在预期水平附近分析至少7个加标空白样品，根据其标准偏差计算检出限。",
    },
    "custody": {
        "en": "If the results might be used in a dispute or in court, ask for sampling by our staff (or in the presence of a notary) with a chain-of-custody record. For samples sent in by the client the report can only say \"as received\", which limits its weight as evidence.",
        "zh": "如果结果可能用于纠纷或诉讼，建议由我们的人员现场抽样（或在公证人员见证下抽样），并保留完整的样品流转记录。客户自行送样的报告只能对来样负责，证明力会受到限制。",
    },
    "hazard": {
        "en": "Hazardous samples – flammable solvents, strong acids, or anything that may contain pathogens – must be declared on the form and packed according to the courier's rules. Some couriers refuse them; in that case we can arrange a specialist carrier.",
        "zh": "危险样品（易燃溶剂、强酸，或可能含有致病菌的样品）必须在申请单上申报，并按快递公司的要求包装。部分快递不收这类样品，我们可以帮您安排专业的危险品运输。",
    },
    "refund": {
        "en": "If you cancel before testing starts there is no charge; once analysis has begun we charge for the work already done. Prepaid amounts are refunded within 10 working days.",
        "zh": "检测开始前取消不收费；已开始分析的，按已完成的工作量收费。预付款会在10个工作日内退回。",
    },
    "security": {
        "en": "Reports and raw data are stored on servers in mainland China with access control and encrypted backups. The customer portal uses two-factor login, and we can send reports as password-protected PDFs.",
        "zh": "报告和原始数据存储在境内服务器上，有权限控制和加密备份。客户平台采用双因素登录，报告也可以按要求以加密PDF发送。",
    },
    "decision": {
        "en": "On decision rules: unless agreed otherwise we use the simple acceptance rule, comparing the measured value directly with the limit. If your customer wants guard bands based on the measurement uncertainty, tell us before testing – it can change the verdict for results close to the limit.",
        "zh": "关于判定规则：除非另有约定，我们采用简单接受规则，直接用测量值与限值比较。如果客户要求基于测量不确定度设置保护带，请在检测前告知，这会影响接近限值的结果的判定。",
    },
    "complaint": {
        "en": "If you're unhappy with how a test was handled, you can also file a formal complaint. It is investigated by our quality manager, who is independent of the testing team, and you receive a written reply within 10 working days.",
        "zh": "如果对检测过程不满意，也可以提交正式投诉。投诉由独立于检测团队的质量负责人调查处理，10个工作日内书面答复。",
    },
    "contact": {
        "en": f"Our customer service team is available Monday to Friday, 8:30–17:30, at {PHONE} or {EMAIL}.",
        "zh": f"客服工作时间为周一至周五8:30–17:30，电话{PHONE}，邮箱{EMAIL}。",
    },
    "return": {
        "en": "When the retention period ends, samples are destroyed and the destruction is recorded. If you prefer, we return the remaining sample at your cost, or issue a destruction certificate for sensitive products.",
        "zh": "留样期满后样品统一销毁并做记录。如有需要，可以到付退回剩余样品，敏感产品也可以出具销毁证明。",
    },
}


def gen(key, lang):
    return GEN[key][lang]


def limits_list(t, lang):
    items = []
    for a in t["analytes"]:
        rel = "≥" if a["kind"] == "min" else "≤"
        items.append(f"{a[lang]}：{rel}{g(a['limit'])} {a['unit']}" if lang == "zh" else f"{a['en']}: {rel} {g(a['limit'])} {a['unit']}")
    head = "几个关键限值（供参考）：\n" if lang == "zh" else "Key limits for reference:\n"
    return head + bullets(items, lang)


def lod_table(t, lang):
    items = []
    for a in t["analytes"]:
        if a["lod"] is None:
            continue
        if lang == "zh":
            items.append(f"{a['zh']}：检出限{g(a['lod'])} {a['unit']}（常见限值{g(a['limit'])} {a['unit']}）")
        else:
            items.append(f"{a['en']}: LOD {g(a['lod'])} {a['unit']} (typical limit {g(a['limit'])} {a['unit']})")
    head = "同一套餐中其他项目的检出限：\n" if lang == "zh" else "Detection limits for other parameters in the same package:\n"
    return head + bullets(items, lang)


def params_list(t, lang):
    head = "套餐通常包括：\n" if lang == "zh" else "The package usually covers:\n"
    return head + bullets(T(t, lang, "params"), lang)

# ---------------------------------------------------------------------------
# Topic builders.  Each returns (question, core, rest, closing).
# ---------------------------------------------------------------------------

def b_tat(ctx, t, lang):
    std, exp = t["tat"]
    name, sample = T(t, lang, "name"), ctx.choice(T(t, lang, "samples"))
    if lang == "en":
        q = ctx.choice(["How long does {name} take?", "What's the turnaround time for {name}?",
                        "If I send {sample} for {name}, when will I get the report?",
                        "How many days until I get results for {name}?", "What is your usual lead time for {name}?"]).format(name=name, sample=sample)
        start = "the day of on-site sampling" if t.get("onsite") else "the day we receive the sample"
        core = ctx.choice([f"Standard turnaround for {name} is {std} working days from {start}.",
                           f"Usually {std} working days after {'sampling' if t.get('onsite') else 'sample receipt'}.",
                           f"The normal turnaround is {std} working days, and an express option of {exp} working days is available."])
        rest = [f"If you're in a hurry, we offer an express service of {exp} working days for a 50% surcharge, and a 24-hour rush for selected parameters at double the standard fee (subject to capacity, so please check with us before shipping).",
                "The clock starts when the sample is logged in at our reception, not when it is shipped. Samples that arrive after 3 p.m. are logged the next working day, and weekends and public holidays are not counted."]
        if t.get("onsite"):
            rest.pop()
        if t.get("en_tat_note"):
            rest.append(t["en_tat_note"])
        if std >= 3:
            rest.append("A typical timeline looks like this:\n" + bullets([
                "Day 0 – " + ("on-site sampling and registration" if t.get("onsite") else "sample receipt, inspection and registration"),
                f"Day 1–{std - 1} – preparation, analysis and quality control checks",
                f"Day {std} – data review by the technical manager, then the signed PDF report is emailed to you",
                "Afterwards – the paper original follows by courier if you asked for one"], lang, numbered=True))
        rest.append("Things that can delay a report: an incomplete application form, not enough sample, a result close to the limit that we repeat before reporting, or a parameter that has to be subcontracted (we always tell you in advance).")
        closing = "Tell me your planned delivery date and I can reserve a slot in the lab schedule."
    else:
        q = ctx.choice(["{name}一般要多久出报告？", "{name}的检测周期是几天？", "我送{sample}做{name}，多久能拿到报告？",
                        "做{name}大概需要几个工作日？", "{name}从收样到出报告要多长时间？"]).format(name=name, sample=sample)
        core = ctx.choice([f"{name}的常规周期是{'采样' if t.get('onsite') else '收样'}后{std}个工作日。", f"一般{'现场采样' if t.get('onsite') else '收到样品'}后{std}个工作日出报告。",
                           f"常规{std}个工作日，加急可以缩短到{exp}个工作日。"])
        rest = [f"如果时间紧，可以选择加急服务：{exp}个工作日出报告，加收50%费用；部分项目还可以做24小时特急，费用加倍，但需要提前确认实验室排期。",
                "周期从样品在前台登记的当天开始计算，而不是从寄出的那天算。下午3点以后到的样品算第二个工作日登记，周末和法定节假日不计入。"]
        if t.get("onsite"):
            rest.pop()
        if t.get("zh_tat_note"):
            rest.append(t["zh_tat_note"])
        if std >= 3:
            rest.append("大致流程如下：\n" + bullets([
                "第0天：" + ("现场采样、登记编号" if t.get("onsite") else "收样、验样、登记编号"), f"第1–{std - 1}天：样品前处理、上机分析和质控核查",
                f"第{std}天：技术负责人审核数据，签发电子版报告（PDF）", "之后：如需纸质报告，会另行快递寄出"], lang, numbered=True))
        rest.append("可能导致延期的情况包括：申请单信息不全、样品量不足、结果接近限值需要复核，或者个别项目需要分包（分包前我们会事先告知您）。")
        closing = "您可以告诉我预计的送样日期，我帮您提前预约实验室排期。"
    return q, core, rest, closing


def b_price(ctx, t, lang):
    lo, hi = t["price"]
    std, exp = t["tat"]
    name, sample = T(t, lang, "name"), ctx.choice(T(t, lang, "samples"))
    if lang == "en":
        q = ctx.choice(["How much does {name} cost?", "What's the price for {name}?", "Could you give me a rough quote for {name} on {sample}?",
                        "What's your price range for {name}?", "Roughly what budget should I plan for {name}?"]).format(name=name, sample=sample)
        core = ctx.choice([f"For {name}, expect roughly {cny(lo, lang)}–{hi:,} depending on the parameters.",
                           f"It depends on the scope. {t['en_price_note']}"])
        rest = [t["en_price_note"]] if "scope" not in core else []
        rest += [
                "Prices include sample preparation, the analysis and one electronic report (PDF with the CNAS and CMA marks where applicable). A paper original is free; extra copies and bilingual Chinese-English reports cost CNY 100 each.",
                "Ways to keep the cost down:\n" + bullets([
                    "order only the parameters your standard or customer actually requires",
                    "send samples in batches – 10 or more samples get 10% off, 50 or more get 15% off",
                    "sign an annual framework agreement for fixed prices and monthly invoicing"], lang),
                f"Express service ({exp} instead of {std} working days) adds 50% to the fee, and 24-hour rush testing doubles it.",
                "Quotations are valid for 30 days. The final price is confirmed in writing after we review your application form, so there are no surprises on the invoice."]
        closing = f"If you email the sample details to {EMAIL}, we'll send a formal quotation within one working day."
    else:
        q = ctx.choice(["{name}多少钱？", "{name}大概什么价位？", "送{sample}做{name}，费用大概多少？",
                        "能先给个{name}的大致报价吗？", "做一次{name}预算要准备多少？"]).format(name=name, sample=sample)
        core = ctx.choice([f"{name}的费用大约在{lo}–{hi}元之间，具体取决于检测项目。", f"要看测哪些项目：{t['zh_price_note']}"])
        rest = [t["zh_price_note"]] if "要看" not in core else []
        rest += [
                "报价已包含样品前处理、检测和一份电子版报告（适用时加盖CNAS和CMA标识）。纸质报告免费寄送，额外副本和中英文双语报告每份加收100元。",
                "几个省钱的办法：\n" + bullets(["只测标准或客户明确要求的项目", "批量送样：10个样品以上九折，50个以上八五折", "签订年度框架协议，享受固定价格并按月结算"], lang),
                f"加急服务（{exp}个工作日，常规为{std}个工作日）加收50%，24小时特急费用加倍。",
                "报价有效期30天，最终价格以我们审核申请单后的书面确认为准，不会出现额外收费。"]
        closing = f"您把样品信息发到{EMAIL}，我们一个工作日内给您正式报价单。"
    return q, core, rest, closing


def b_sample(ctx, t, lang):
    name, sample = T(t, lang, "name"), ctx.choice(T(t, lang, "samples"))
    tips = T(t, lang, "tips")
    if lang == "en":
        q = ctx.choice(["How much sample do you need for {name}?", "How should I pack {sample} for {name}?",
                        "What sample quantity and container do you need for {name}?", "I'd like to send {sample} for {name}. How much should I send?",
                        "What are the sampling requirements for {name}?"]).format(name=name, sample=sample)
        core = (f"For {name} you don't need to send anything: {t['en_sample']}." if t.get("onsite")
                else f"For {name} we need {t['en_sample']}.")
        rest = [f"Storage and transport: {t['en_store']}.",
                "Practical tips:\n" + bullets(tips, lang),
                "Label every container with a unique sample ID, the sampling date and time, and the sampling location, and use the same ID on the application form. Waterproof marker or printed labels work best.",
                ("If you can't provide that many specimens, we can test fewer, but with fewer than three the mean is less reliable and some product standards won't accept the result." if t.get("mech")
                 else "If you can't collect that much, contact us first. For some parameters we can work with less, but the detection limit may go up and there will be no retained portion for a retest."),
                "We keep the remaining sample for 30 days after the report (7 days for perishable samples) in case you want a retest, then dispose of it unless you ask for it back."]
        closing = "We can also send you a sampling kit with containers, labels and an ice box – just let us know the number of samples."
    else:
        q = ctx.choice(["{name}需要送多少样品？", "送{sample}做{name}，样品要怎么包装？", "{name}对样品量和容器有什么要求？",
                        "我想送{sample}来做{name}，要准备多少量？", "{name}的采样有什么要求？"]).format(name=name, sample=sample)
        core = (f"{name}不需要寄送样品，{t['zh_sample']}。" if t.get("onsite")
                else f"{name}的送样要求是：{t['zh_sample']}。")
        rest = [f"保存和运输：{t['zh_store']}。",
                "几点注意事项：\n" + bullets(tips, lang),
                "每个容器请贴上唯一的样品编号，写明采样日期、时间和地点，并与申请单上的编号一致，建议用防水记号笔或打印标签。",
                ("如果试样不够，也可以少测几根，但少于3根时平均值的代表性较差，部分产品标准也不认可。" if t.get("mech")
                 else "如果采不到这么多，请先和我们联系。部分项目可以用较少的样品完成，但检出限可能升高，而且不会再有留样用于复测。"),
                "报告发出后，剩余样品留存30天（易腐样品7天），方便您申请复测，到期后统一处理，需要退回的请提前说明。"]
        closing = "我们也可以寄送采样套装（容器、标签和保温箱），告诉我样品数量即可。"
    return q, core, rest, closing


def b_standard(ctx, t, lang):
    name, sample = T(t, lang, "name"), ctx.choice(T(t, lang, "samples"))
    codes = [c for c in t["codes"] if c in STD_TITLES]
    li = 0 if lang == "zh" else 1
    lines = [f"{c}: {STD_TITLES[c][li]}" if lang == "en" else f"{c}《{STD_TITLES[c][li]}》" for c in codes]
    if lang == "en":
        q = ctx.choice(["Which standard do you use for {name}?", "What method and limits apply to {name}?", "Which GB or ISO standards cover {name}?",
                        "For {name} on {sample}, which standard will the report refer to?", "What test standard do you follow for {name}?"]).format(name=name, sample=sample)
        core = f"Results are evaluated against {t['en_limit']}, using methods such as {methods_text(t, lang, 3)}."
        rest = ["The standards involved are:\n" + bullets(lines, lang),
                t["en_std_note"],
                "If your customer specifies a different method – an ISO, ASTM or EN equivalent, for instance – we can use it as long as it is in our accreditation scope. Please write the required standard on the application form so it appears on the report.",
                "We always apply the current edition of a standard unless you ask for an older one, for example to compare with historical data.",
                "The destination market matters: the same product may be judged against a GB standard in China and against EU or US rules for export, with different limits and sometimes different methods."]
        closing = "If you tell me where the product will be sold, I can confirm the exact standard before you send samples."
    else:
        q = ctx.choice(["{name}依据什么标准？", "{name}用的是哪个检测方法和判定标准？", "{sample}做{name}，报告上会引用哪个标准？",
                        "{name}执行的是国标还是国际标准？", "{name}参照哪些标准？"]).format(name=name, sample=sample)
        core = f"判定依据是{t['zh_limit']}，检测方法主要采用{methods_text(t, lang, 3)}等。"
        rest = ["涉及的标准如下：\n" + bullets(lines, lang),
                t["zh_std_note"],
                "如果客户指定了其他方法（比如ISO、ASTM或EN标准），只要在我们的认可范围内都可以采用。请在申请单上写明要求的标准，报告上会如实注明。",
                "除非您特别要求使用旧版本（例如为了和历史数据对比），我们一律采用现行有效版本的标准。",
                "目标市场很关键：同一种产品在国内按国标判定，出口时则可能要按欧盟或美国的法规，限值甚至方法都不一样。"]
        closing = "告诉我产品的销售地区，我可以在您送样前帮您确认具体适用的标准。"
    return q, core, rest, closing


def b_lod(ctx, t, lang):
    name = T(t, lang, "name")
    a = ctx.choice(t["analytes"])
    an, unit = a[lang], a["unit"]
    if t.get("mech"):
        if lang == "en":
            q = ctx.choice(["Is there a detection limit for {name}?", "How precise are your results for {name}?",
                            "What's the measurement uncertainty for {an} in {name}?"]).format(name=name, an=an)
            core = f"Detection limits don't really apply to mechanical tests; what matters is the measurement uncertainty, which for {an} is about ±{a['u']}% (k = 2)."
            rest = ["Our testing machines are calibrated to ISO 7500-1 class 0.5 or better, and the extensometers to ISO 9513 class 0.5, so force and strain errors are well below the specimen-to-specimen scatter.",
                    "The uncertainty is stated on the report on request, next to each result.",
                    "In practice the biggest source of variation is the material itself and how the specimen was taken and machined, which is why we recommend testing at least three specimens and reporting the mean and the individual values.",
                    "If your result is very close to the specification minimum, tell us whether the contract specifies a decision rule (for example guard bands). Otherwise we compare the measured value directly with the requirement."]
            closing = None
        else:
            q = ctx.choice(["{name}有检出限吗？", "{name}的结果精度有多高？", "{name}中{an}的测量不确定度是多少？"]).format(name=name, an=an)
            core = f"力学试验不涉及检出限的概念，更关心的是测量不确定度，{an}的扩展不确定度约为±{a['u']}%（k=2）。"
            rest = ["我们的试验机按ISO 7500-1校准，准确度为0.5级或更好，引伸计按ISO 9513为0.5级，力值和应变的误差远小于试样之间的离散性。",
                    "如有需要，可以在报告中每个结果旁注明不确定度。",
                    "实际上结果差异最大的来源是材料本身以及取样和加工方式，所以我们建议每组至少测3根，报告中同时给出单值和平均值。",
                    "如果结果非常接近规定的最小值，请告诉我们合同中是否约定了判定规则（例如保护带），否则我们直接用实测值与要求比较。"]
            closing = None
        return q, core, rest, closing
    lod, lim = g(a["lod"]), g(a["limit"])
    if lang == "en":
        q = ctx.choice(["What's your detection limit for {an} in {name}?", "How low can you detect {an} as part of {name}?",
                        "What is the LOD for {an} when doing {name}?", "Is your method for {an} sensitive enough? I'm ordering {name}."]).format(name=name, an=an)
        core = f"Our method detection limit for {an} is {lod} {unit}, comfortably below the typical limit of {lim} {unit}."
        rest = ["The limit of detection (LOD) is the lowest level we can reliably tell apart from zero; the limit of quantification (LOQ), usually about three times the LOD, is the lowest level we report as a number with stated accuracy.",
                f"Results below the LOD appear on the report as \"ND\" (not detected) together with the LOD, for example \"ND (< {lod} {unit})\".",
                "The detection limit depends on the sample matrix. Complex samples – fatty foods, dark dyes, high-salt water – can raise it, and in that case we state the actual LOD achieved for your sample.",
                "If you need a lower LOD, for research, a baby-food specification or a strict customer requirement, tell us the target value. We can often reach it with a larger sample intake or a more sensitive instrument such as ICP-MS or LC-MS/MS, sometimes at extra cost."]
        closing = "Let me know the limit you have to meet and I'll confirm that the method is fit for purpose."
    else:
        q = ctx.choice(["{name}中{an}的检出限是多少？", "你们测{an}能测到多低？是做{name}用的。", "{name}里{an}的方法检出限是多少？",
                        "{an}的检出限够不够低？我们要做{name}。"]).format(name=name, an=an)
        core = f"{an}的方法检出限为{lod} {unit}，远低于常见限值{lim} {unit}。"
        rest = ["检出限（LOD）是方法能可靠区分于零的最低含量；定量限（LOQ）一般约为检出限的3倍，是能以规定准确度给出具体数值的最低含量。",
                f"低于检出限的结果在报告中写作“未检出”或“ND”，并注明检出限，例如“ND（<{lod} {unit}）”。",
                "检出限和样品基质有关。油脂高的食品、深色染料、高盐水样等复杂样品可能使检出限升高，这种情况下我们会在报告中注明该样品实际达到的检出限。",
                "如果您需要更低的检出限（科研、婴幼儿食品规格或客户的严格要求），请告诉我们目标值。通常可以通过加大取样量或改用ICP-MS、LC-MS/MS等更灵敏的仪器实现，可能会产生额外费用。"]
        closing = "告诉我您需要满足的限值，我帮您确认方法是否适用。"
    return q, core, rest, closing


def b_report(ctx, t, lang):
    name = T(t, lang, "name")
    kinds = ["uncertainty", "conclusion"] if t.get("mech") else ["nd", "uncertainty", "conclusion"]
    kind = ctx.choice(kinds)
    if lang == "en":
        if kind == "nd":
            q = ctx.choice(["What does 'ND' mean on my {name} report?", "My {name} report shows ND for several items – is that good?",
                            "Why does the {name} report say ND instead of a number?"]).format(name=name)
            core = "ND means \"not detected\": the substance was below the method's detection limit, which is printed next to the result."
            rest = ["For a compliance check this is the best outcome – an ND result meets any limit that is higher than the detection limit.",
                    "ND does not mean the concentration is exactly zero, only that it is lower than what the method can reliably detect. That is why the detection limit is always stated.",
                    "Some customers prefer \"< LOD\" notation, for example \"< 0.01 mg/kg\". We can issue the report that way if you ask before testing.",
                    "If a customer needs to see that the method was sensitive enough, compare the stated detection limit with their limit: it should be well below it, ideally by a factor of five or more."]
        elif kind == "uncertainty":
            q = ctx.choice(["What's the ± value next to the results in my {name} report?", "The {name} report lists a measurement uncertainty. What does it mean?",
                            "Why is there a plus-minus figure after each result in the {name} report?"]).format(name=name)
            core = "The ± figure is the expanded measurement uncertainty: the true value lies within that range of the reported result with about 95% confidence."
            rest = ["Every measurement has some uncertainty from weighing, calibration, recovery and instrument noise. We estimate it from validation data according to ISO/IEC 17025 and the GUM, and report it with a coverage factor k = 2.",
                    ("Example: a tensile strength of 560 ± 9 MPa means the true value most likely lies between 551 and 569 MPa." if t.get("mech")
                     else "Example: a result of 0.080 ± 0.012 means the true value most likely lies between 0.068 and 0.092."),
                    "Uncertainty matters most when the result is close to the limit. Unless agreed otherwise, we use the simple acceptance decision rule: we compare the measured value itself with the limit and state the rule on the report.",
                    "If your customer requires guard bands (for example, pass only if result + uncertainty is below the limit), tell us before testing so the correct decision rule is applied."]
        else:
            q = ctx.choice(["The {name} report says the sample 'meets the requirements'. Does that cover the whole batch?",
                            "Can I use the {name} report for the whole production lot?", "Does a passing {name} report certify our product?"]).format(name=name)
            core = "Strictly speaking, no: the report covers only the sample as received and only the items tested."
            rest = ["This is a standard clause in every accredited test report. We don't know how the sample was taken, so we can't vouch for the batch it came from.",
                    "If you need results that represent a batch, the sample must be drawn according to a sampling plan – for example by our sampling team or a third-party inspector – and the report will then state who took the sample and how.",
                    "\"Meets the requirements\" also refers only to the parameters listed. A report for formaldehyde alone doesn't show that the product complies with every clause of the product standard.",
                    "For ongoing compliance, many customers combine an annual full test with smaller routine checks on each batch."]
        closing = "If you paste the line from the report here, I can go through it with you."
    else:
        if kind == "nd":
            q = ctx.choice(["{name}报告上的“未检出”是什么意思？", "{name}报告里好几项写着ND，这是好事吗？",
                            "为什么{name}报告里有的项目不写数值，只写“<检出限”？"]).format(name=name)
            core = "ND或“未检出”表示该物质低于方法检出限，检出限数值会标注在结果旁边。"
            rest = ["对于合格判定来说这是最理想的结果，只要检出限低于标准限值，未检出就一定符合要求。",
                    "未检出并不代表含量绝对为零，只是低于方法能可靠检测到的水平，所以报告中一定会注明检出限。",
                    "有些客户更习惯“<检出限”的写法，比如“<0.01 mg/kg”，如有需要请在送样时说明，我们可以按这种方式出具报告。",
                    "如果客户想确认方法灵敏度是否足够，可以把检出限和他们的限值比较，一般检出限应比限值低5倍以上。"]
        elif kind == "uncertainty":
            q = ctx.choice(["{name}报告结果后面的“±”数值是什么意思？", "{name}报告里的测量不确定度怎么理解？",
                            "为什么{name}报告的每个结果后面都有一个正负值？"]).format(name=name)
            core = "“±”后面是扩展测量不确定度，表示真值以约95%的置信概率落在这个范围内。"
            rest = ["任何测量都有不确定度，来自称量、校准、回收率和仪器噪声等。我们依据ISO/IEC 17025和GUM，根据方法验证数据进行评定，包含因子k=2。",
                    ("举例：抗拉强度560±9 MPa，意思是真值很可能在551到569 MPa之间。" if t.get("mech")
                     else "举例：结果为0.080±0.012，意思是真值很可能在0.068到0.092之间。"),
                    "结果接近限值时，不确定度才显得重要。除非另有约定，我们采用简单接受判定规则，即直接用测量值与限值比较，并在报告中注明所用的判定规则。",
                    "如果客户要求使用保护带（例如结果加上不确定度仍低于限值才算合格），请在检测前告诉我们，以便采用相应的判定规则。"]
        else:
            q = ctx.choice(["{name}报告结论写“所检项目符合要求”，能代表整批产品吗？", "{name}的报告能用于整个生产批次吗？",
                            "{name}报告合格，是不是就说明我们的产品合格了？"]).format(name=name)
            core = "严格来说不能，报告只对来样负责，而且只针对所检测的项目。"
            rest = ["这是所有认可实验室报告中的标准声明。我们不清楚样品是怎么抽取的，因此无法对样品所属的批次做出保证。",
                    "如果需要代表整批的结果，样品应按抽样方案抽取，比如由我们的采样人员或第三方检验员现场抽样，报告中会注明抽样人和抽样方式。",
                    "“符合要求”也只针对列出的项目。比如只测了甲醛的报告，并不能说明产品符合产品标准的全部条款。",
                    "为了持续合规，很多客户采用“每年一次全项检测，加上每批次的常规抽检”的方式。"]
        closing = "您可以把报告中的那一行贴过来，我帮您逐项解读。"
    return q, core, rest, closing


def b_accred(ctx, t, lang):
    name = T(t, lang, "name")
    if lang == "en":
        q = ctx.choice(["Is your {name} CNAS accredited?", "Will the {name} report carry the CMA mark?", "Is {name} within your ISO/IEC 17025 scope?",
                        "Will a {name} report from you be accepted by overseas customers?", "Our customer insists on an accredited lab for {name}. Are you accredited?"]).format(name=name)
        core = f"Yes – {name} is within our CNAS accreditation ({CNAS_NO}, ISO/IEC 17025) and our CMA certificate, so the report carries both marks."
        rest = ["CNAS is China's national accreditation body and assesses labs against ISO/IEC 17025. Because CNAS is a signatory to the ILAC mutual recognition arrangement, our accredited reports are generally accepted by customers and authorities abroad.",
                "CMA (inspection and testing body qualification) is the legal requirement in China for reports used as evidence – submissions to government agencies, product registrations, court cases and public tenders.",
                f"You can check our scope yourself: search for {CNAS_NO} on the CNAS website, where the accredited standards are listed one by one.",
                "If a parameter you order is outside our scope, it is marked on the report with an asterisk and an explanatory note, and we tell you before testing. Subcontracted tests are done only at accredited partner labs and are marked as well.",
                "Some export customers also ask for specific recognitions (for example a retailer's approved lab list); tell us the customer name and we'll confirm."]
        closing = "If your customer has a template or a required statement for the report, send it over and we'll check it."
    else:
        q = ctx.choice(["你们的{name}有CNAS认可吗？", "{name}报告上有CMA章吗？", "{name}在你们ISO/IEC 17025认可范围内吗？",
                        "你们出的{name}报告国外客户认不认？", "客户要求{name}必须由有资质的实验室做，你们符合吗？"]).format(name=name)
        core = f"符合。{name}在我们的CNAS认可范围（{CNAS_NO}，ISO/IEC 17025）和CMA资质认定范围内，报告同时加盖两个标识。"
        rest = ["CNAS是中国合格评定国家认可委员会，按ISO/IEC 17025评审实验室。CNAS是ILAC国际互认协议的签署方，所以我们的认可报告在国外一般都能被接受。",
                "CMA是检验检测机构资质认定标志，在国内向政府部门提交材料、产品注册备案、司法鉴定和招投标等需要具有证明作用的场合，报告必须有CMA标志。",
                f"您可以自行核实：在CNAS官网搜索{CNAS_NO}，能看到我们认可的标准清单。",
                "如果您委托的项目不在认可范围内，报告中会用星号标注并加以说明，检测前我们也会事先告知。分包项目只委托给有资质的合作实验室，同样会在报告中注明。",
                "部分出口客户还有指定的认可要求（比如零售商的认可实验室名录），告诉我们客户名称，我们帮您确认。"]
        closing = "如果客户对报告有模板或特定声明要求，可以发给我们提前确认。"
    return q, core, rest, closing


def b_retest(ctx, t, lang):
    name = T(t, lang, "name")
    tip = ctx.choice(T(t, lang, "tips"))
    micro, onsite = t.get("micro"), t.get("onsite")
    if lang == "en":
        q = ctx.choice(["My {name} result failed. Can I ask for a retest?", "I don't agree with the {name} result. What can I do?",
                        "Can you retest the retained sample for {name}?", "How does a retest work for {name}?"]).format(name=name)
        if t.get("mech"):
            core = "A retest is possible, but tensile specimens are broken during the test, so a retest uses new specimens – product standards usually allow a retest on twice the number of specimens from the same batch."
        elif onsite:
            core = "For indoor air we can't reuse the old sample, so a retest means a new on-site sampling visit, which you can book within 15 days of the report."
        elif micro:
            core = "You can request a review within 15 days of the report, but microbiology results can't be repeated on the same sample – a retest needs a fresh sample."
        else:
            core = "You can request a retest of the retained sample within 15 days of receiving the report."
        rest = ["How it works:\n" + bullets([
                    "send us a written request quoting the report number and the parameters in question",
                    "we first review the raw data, calibration and quality control records for the original run",
                    "the retained sample (or a new sample) is tested by a different analyst where possible",
                    "you receive the retest result in about the same turnaround as the original test"], lang, numbered=True),
                "Fees: if the retest confirms the original result, the normal test fee applies. If it shows our original result was wrong, the retest is free and we issue a corrected report that replaces the old one.",
                "A retest of the retained sample checks our measurement; testing a newly drawn sample checks your product. If the goal is to show that a new batch is fine, you need the second one, and the report will show the new sample ID.",
                "Retained samples are kept for 30 days (7 days for perishables). Microbiology samples and samples consumed during testing cannot be retested.",
                f"Before retesting, check the usual suspects – sampling, storage and recent changes in materials or process. One practical point for this test: {lower_first(tip)}"]
        closing = "Send me the report number and I can check whether your retained sample is still available."
    else:
        q = ctx.choice(["{name}结果不合格，可以申请复测吗？", "对{name}的结果有异议，怎么处理？", "{name}的留样能复测吗？",
                        "{name}复检的流程是怎样的？"]).format(name=name)
        if t.get("mech"):
            core = "可以复验，但拉伸试样在试验中已经拉断，复验需要用新试样，产品标准一般允许从同一批次取双倍数量的试样复验。"
        elif onsite:
            core = "室内空气无法使用原样品复测，需要重新上门采样，请在收到报告后15天内预约。"
        elif micro:
            core = "可以在收到报告后15天内提出复核申请，但微生物项目不能用原样品复测，需要重新送样。"
        else:
            core = "收到报告后15天内，可以申请用留样复测。"
        rest = ["具体流程：\n" + bullets(["提交书面申请，写明报告编号和有异议的项目", "我们先复核原始记录、仪器校准和质控数据",
                                          "尽量安排另一位检测人员用留样（或新样品）重新检测", "复测周期与原检测基本相同"], lang, numbered=True),
                "费用：如果复测结果与原结果一致，按正常检测费收费；如果证明原结果有误，复测免费，并出具更正报告替代原报告。",
                "用留样复测是核实我们的测量结果；重新抽样送检则是检验您的产品。如果目的是证明新批次合格，应该重新送样，新报告会使用新的样品编号。",
                "留样保存30天（易腐样品7天）。微生物样品和检测中已全部消耗的样品无法复测。",
                f"复测之前，建议先排查抽样、保存条件以及原料或工艺的变化。这类检测还有一点需要注意：{tip}"]
        closing = "把报告编号发给我，我帮您查一下留样是否还在保存期内。"
    return q, core, rest, closing


def b_shipping(ctx, t, lang):
    name, sample = T(t, lang, "name"), ctx.choice(T(t, lang, "samples"))
    if t.get("onsite"):
        if lang == "en":
            q = ctx.choice(["Do I need to send anything for {name}, or do you come to us?", "How does sampling work for {name} in {sample}?"]).format(name=name, sample=sample)
            core = f"Nothing needs to be shipped – {t['en_sample']}."
            rest = [f"Before the visit: {t['en_store']}.", "We cover Suzhou, Shanghai, Wuxi and Hangzhou with our own teams; other cities are served through partner labs or at an extra travel charge.",
                    "Book at least two working days ahead by phone or email. On the day, someone needs to let the engineer in and sign the sampling record."]
            closing = f"Call {PHONE} to book a sampling visit."
        else:
            q = ctx.choice(["做{name}需要寄样品吗，还是你们上门？", "{sample}做{name}是怎么采样的？"]).format(name=name, sample=sample)
            core = f"不需要寄样品，{t['zh_sample']}。"
            rest = [f"采样前准备：{t['zh_store']}。", "苏州、上海、无锡、杭州由我们自己的团队上门，其他城市通过合作实验室安排或另收差旅费。",
                    "请至少提前两个工作日电话或邮件预约，采样当天需要有人开门并在采样记录上签字。"]
            closing = f"拨打{PHONE}即可预约上门采样。"
        return q, core, rest, closing
    overseas = ctx.rng.random() < 0.3
    if lang == "en":
        if overseas:
            q = ctx.choice(["We're overseas. Can we ship {sample} to you for {name}?", "Do you accept international shipments of {sample} for {name}?"]).format(name=name, sample=sample)
            core = "Yes, we receive samples from abroad regularly; they go through customs, so allow a few extra days."
        else:
            q = ctx.choice(["Can I send {sample} for {name} by courier?", "How do I ship samples for {name} to your lab?",
                            "What's your sample delivery address for {name}?"]).format(name=name, sample=sample)
            core = f"Any courier is fine – please send the samples to {ADDR_EN}."
        rest = [f"Transport conditions: {t['en_store']}.",
                "Packaging checklist:\n" + bullets(["seal each container and put it in its own plastic bag", "cushion glass with bubble wrap",
                                                    "put the completed application form in a separate bag inside the box", "write the sample IDs on the outside of the parcel"], lang),
                "Avoid shipping on Fridays or before public holidays – our reception is closed at weekends, and chilled samples can spoil in a depot.",
                f"Reception hours are Monday to Friday, 8:30–17:30. You can also drop samples off in person at the same address.",
                "For international shipments, declare the parcel as \"samples for laboratory testing, no commercial value\" and attach a pro-forma invoice. Food, soil and biological samples may need import permits, so ask us before shipping them."]
        if overseas:
            rest.insert(0, f"Ship to {ADDR_EN}, with our phone number {PHONE} as the contact.")
        closing = "Email us the tracking number after shipping so our reception knows what to expect."
    else:
        if overseas:
            q = ctx.choice(["我们在国外，可以把{sample}寄过来做{name}吗？", "{sample}从海外寄过来做{name}可以吗？"]).format(name=name, sample=sample)
            core = "可以，我们经常收到海外样品，不过需要清关，请预留几天时间。"
        else:
            q = ctx.choice(["做{name}，{sample}能快递过去吗？", "{name}的样品怎么寄给你们？", "我们在外地，{sample}寄过去做{name}可以吗？",
                            "{name}的收样地址是哪里？"]).format(name=name, sample=sample)
            core = f"用任何快递都可以，请寄到：{ADDR_ZH}。"
        rest = [f"运输条件：{t['zh_store']}。",
                "包装清单：\n" + bullets(["每个容器密封后单独装入塑料袋", "玻璃容器用气泡膜包好", "填好的申请单单独装袋后放在箱内", "箱子外面写上样品编号"], lang),
                "尽量不要在周五或节假日前寄出，周末前台不收件，冷藏样品在中转站放久了容易变质。",
                "收样时间为周一至周五8:30–17:30，也可以直接送到上述地址。",
                "国际寄送请申报为“实验室检测用样品，无商业价值”，并附形式发票。食品、土壤和生物样品进口可能需要许可，寄出前请先与我们确认。"]
        if overseas:
            rest.insert(0, f"收件地址：{ADDR_ZH}，联系电话{PHONE}。")
        closing = "寄出后请把快递单号发给我们，方便前台及时签收。"
    return q, core, rest, closing


def b_invoice(ctx, t, lang):
    name = T(t, lang, "name")
    kind = ctx.choice(["special", "timing", "pay_after", "methods"])
    if lang == "en":
        q = {"special": "Can I get a VAT special invoice for {name}?", "timing": "When will you issue the invoice for {name}?",
             "pay_after": "Can we pay for {name} after receiving the report?", "methods": "What payment methods do you accept for {name}?"}[kind].format(name=name)
        core = {"special": "Yes, we issue both VAT special invoices and ordinary invoices, as fully digital e-invoices.",
                "timing": "The e-invoice is issued within 3 working days after payment and emailed to the address on your application form.",
                "pay_after": "For new customers we ask for payment before the report is released; account customers can pay monthly after the report.",
                "methods": "We accept bank transfer, corporate online banking, WeChat Pay and Alipay; overseas customers can pay in USD by wire transfer."}[kind]
        rest = ["For a VAT special invoice we need your company name, taxpayer ID, registered address and phone number, and bank name and account number. Please fill these in on the application form.",
                "Testing starts once the sample arrives; the report is released after payment is received. Payment reference: please quote the quotation or report number.",
                "Companies with regular testing can apply for an account with monthly settlement and 30-day payment terms, subject to a short credit check.",
                "Invoices can be split by project or cost centre if you tell us in advance. Changes after issue require the original invoice to be reversed, which takes a few days."]
        closing = None
    else:
        q = {"special": "{name}可以开增值税专用发票吗？", "timing": "{name}的发票什么时候开？",
             "pay_after": "{name}可以先出报告后付款吗？", "methods": "{name}支持哪些付款方式？"}[kind].format(name=name)
        core = {"special": "可以，我们开具数电发票，增值税专用发票和普通发票都可以。",
                "timing": "收到款项后3个工作日内开具电子发票，发送到申请单上填写的邮箱。",
                "pay_after": "新客户需要先付款再发报告；签订协议的月结客户可以出报告后按月付款。",
                "methods": "支持银行转账、企业网银、微信和支付宝；海外客户可以用美元电汇。"}[kind]
        rest = ["开具专票需要提供：公司名称、纳税人识别号、注册地址和电话、开户行及账号，请在申请单上填写完整。",
                "收到样品即开始检测，款项到账后发放报告。付款时请备注报价单号或报告编号。",
                "检测量较大的企业可以申请月结，账期30天，需要做一个简单的信用审核。",
                "如需按项目或部门拆分发票，请提前告知。发票开出后如需修改，需要先红冲原发票，会耽误几天时间。"]
        closing = None
    return q, core, rest, closing


def b_conf(ctx, t, lang):
    name = T(t, lang, "name")
    kind = ctx.choice(["share", "nda", "unreleased", "anonymize"])
    if lang == "en":
        q = {"share": "Will you share our {name} results with anyone?", "nda": "Can we sign an NDA before sending samples for {name}?",
             "unreleased": "Our product isn't launched yet. How do you keep the {name} samples confidential?",
             "anonymize": "Can the {name} report leave out our brand name?"}[kind].format(name=name)
        core = {"share": "No. Results are confidential and are released only to the applicant named on the application form.",
                "nda": "Yes, we're happy to sign your NDA or use our standard mutual confidentiality agreement.",
                "unreleased": "Unreleased products are handled under restricted access: only the staff testing them see the sample and the data.",
                "anonymize": "Yes. The report shows the sample description you give us, so you can use a code name instead of the brand."}[kind]
        rest = ["Confidentiality is a requirement of ISO/IEC 17025 (clause 4.2). All staff sign confidentiality undertakings, and reports are sent only to the contacts you authorise.",
                "The only exceptions are disclosures required by law – for example to a regulator in a food safety incident – and in that case we inform you unless the law forbids it. Accreditation assessors may review records, but they are bound by confidentiality too.",
                "Records and raw data are kept for at least 6 years for traceability, then destroyed securely. Remaining samples are disposed of after the retention period unless you ask for them back.",
                "If you want the report to carry a code name, write that name in the sample description on the application form; it can't be changed after the report is issued without a formal amendment."]
        closing = None
    else:
        q = {"share": "{name}的结果会透露给第三方吗？", "nda": "送样做{name}之前能先签保密协议吗？",
             "unreleased": "产品还没上市，{name}的样品和数据怎么保密？", "anonymize": "{name}报告上可以不写我们的品牌名吗？"}[kind].format(name=name)
        core = {"share": "不会。检测结果严格保密，只提供给申请单上的委托方。",
                "nda": "可以，签贵司的保密协议或者用我们的标准双向保密协议都行。",
                "unreleased": "未上市产品按受控方式处理，只有参与检测的人员能接触样品和数据。",
                "anonymize": "可以。报告上的样品名称按您提供的信息填写，用代号代替品牌名完全没问题。"}[kind]
        rest = ["保密是ISO/IEC 17025（第4.2条）的明确要求。所有员工都签署了保密承诺，报告只发送给您授权的联系人。",
                "唯一的例外是法律要求的披露，比如发生食品安全事件时向监管部门报告，此时除非法律禁止，我们会事先通知您。认可评审员可能查阅记录，但他们同样负有保密义务。",
                "原始记录和数据至少保存6年以便追溯，之后安全销毁。剩余样品在留样期满后处理，需要退回的请提前说明。",
                "如果希望报告使用代号，请在申请单的样品名称处直接填写代号；报告签发后再改需要走正式的更改流程。"]
        closing = None
    return q, core, rest, closing


def _recommend(ctx, t, lang):
    """core/rest/closing shared by the scenario and sample-description topics."""
    std, exp = t["tat"]
    lo, hi = t["price"]
    name = T(t, lang, "name")
    tips = ctx.rng.sample(T(t, lang, "tips"), 2)
    if lang == "en":
        core = f"I'd recommend {name}, evaluated against {t['en_limit']}."
        rest = ["The usual parameters are:\n" + bullets(t["en_params"], lang),
                f"Sample requirements: {t['en_sample']}; {t['en_store']}.",
                f"Standard turnaround is {std} working days ({exp} with the express service), and the budget is roughly CNY {lo:,}–{hi:,} depending on the scope.",
                "A couple of practical tips:\n" + bullets(tips, lang),
                "The report will carry the CNAS and CMA marks, so it can be used for customers and for submissions to authorities."]
        closing = "If you tell me how the results will be used (own check, customer requirement or an official submission), I can narrow the list and send a formal quotation."
    else:
        core = f"建议做{name}，按{t['zh_limit']}判定。"
        rest = ["常规检测项目包括：\n" + bullets(t["zh_params"], lang),
                f"送样要求：{t['zh_sample']}；{t['zh_store']}。",
                f"常规周期{std}个工作日（加急{exp}个工作日），费用大约{lo}–{hi}元，视项目范围而定。",
                "两点实用建议：\n" + bullets(tips, lang),
                "报告加盖CNAS和CMA标识，可以提供给客户，也可以用于向主管部门提交。"]
        closing = "您告诉我报告的用途（内部自查、客户要求还是官方提交），我可以帮您精简项目并出正式报价。"
    return core, rest, closing


def _take_context(ctx, t, lang, kinds):
    opts = []
    for kind in kinds:
        if kind == "scen":
            opts += [("scen", s) for s in T(t, lang, "scen")]
        else:
            opts.append(("desc", T(t, lang, "desc")))
    opts = [o for o in opts if (lang, o[1]) not in ctx.used_context]
    if not opts:
        return None
    o = ctx.choice(opts)
    ctx.used_context[(lang, o[1])] = True
    return o


def b_which(ctx, t, lang):
    o = _take_context(ctx, t, lang, ["scen"])
    if o is None:
        return None
    scen = o[1]
    if lang == "en":
        q = cap(scen) + ". " + ctx.choice(["What test should I order?", "Which tests do we need?", "What would you recommend?", "Where do we start?"])
    else:
        q = scen + "，" + ctx.choice(["应该做什么检测？", "需要做哪些项目？", "你们有什么建议？", "该从哪里入手？"])
    core, rest, closing = _recommend(ctx, t, lang)
    return q, core, rest, closing


def b_input_sample(ctx, t, lang):
    o = _take_context(ctx, t, lang, ["desc", "scen"])
    if o is None:
        return None
    kind, text = o
    if lang == "en":
        instr = ctx.choice(["Which tests should I order for this sample?", "What testing would you recommend for the sample below?",
                            "Could you suggest a test package for this?", "Here's our situation. What do we need to test?",
                            "Please recommend tests and standards for the following.", "What should we test for in this case?"])
        inp = text if kind == "desc" else "Background: " + cap(text) + "."
    else:
        instr = ctx.choice(["这个样品应该做哪些检测？", "请根据下面的情况推荐检测项目。", "能帮我们推荐一个检测套餐吗？",
                            "情况如下，需要测哪些项目？", "下面这个样品该按什么标准测？", "这种情况建议做什么检测？"])
        inp = text if kind == "desc" else "背景：" + text + "。"
    core, rest, closing = _recommend(ctx, t, lang)
    return (instr, inp), core, rest, closing


def b_input_report(ctx, t, lang):
    a = ctx.choice(t["analytes"])
    unit, lim, kind = a["unit"], a["limit"], a["kind"]
    an = a[lang]
    rng = ctx.rng
    if kind == "min":
        case = ctx.choice(["pass", "pass", "near", "fail"])
        v = lim * {"pass": rng.uniform(1.06, 1.3), "near": rng.uniform(1.0, 1.025), "fail": rng.uniform(0.85, 0.97)}[case]
    else:
        case = ctx.choice(["nd", "below", "near", "above"])
        lod = a["lod"]
        if case == "below":
            lo_v = max(lod * 1.5, lim * 0.1)
            if lo_v >= lim * 0.6:
                case = "nd"
            else:
                v = rng.uniform(lo_v, lim * 0.6)
        if case == "near":
            v = lim * rng.uniform(0.86, 0.98)
        if case == "above":
            v = lim * rng.uniform(1.15, 3.0)
    passed = case in ("nd", "below", "near", "pass")
    res = None if case == "nd" else fmt_val(v)
    sid = f"HC{rng.randint(23, 24)}-{rng.randint(10000, 99999)}"
    method = a["method"]
    if lang == "en":
        rel = "≥" if kind == "min" else "≤"
        fields = [f"Sample {sid}", an[:1].upper() + an[1:], f"Result: {res + ' ' + unit if res else 'ND'}"]
        if a["lod"] is not None:
            fields.append(f"LOD: {g(a['lod'])} {unit}")
        fields += [f"Limit: {rel} {g(lim)} {unit}", f"Method: {method}", f"Conclusion: {'Pass' if passed else 'Fail'}"]
        inp = " | ".join(fields)
        instr = ctx.choice(["Is this result a pass?", "Can you explain this line from our report?", "What does this result mean for us?",
                            "Our report shows the following. Should we be worried?", "How do I read this row of the test report?", "Is this within the limit?"])
        u = a["u"]
        if case == "nd":
            core = f"Yes, this is a pass: ND means {an} was not detected, i.e. it was below our detection limit of {g(a['lod'])} {unit}, far below the limit of {g(lim)} {unit}."
            rest = ["ND doesn't mean the level is exactly zero, only that it is below what the method can reliably detect.",
                    f"If your customer wants a numeric value, we can reissue the result as \"< {g(a['lod'])} {unit}\" instead of ND.",
                    f"The method, {method}, is within our accreditation scope, so this line can be shown to customers and authorities as is."]
        elif case in ("below", "pass"):
            pct = v / lim * 100
            if kind == "min":
                core = f"Yes, it passes: {res} {unit} is above the required minimum of {g(lim)} {unit}, by about {pct - 100:.0f}%."
            else:
                core = f"Yes, it passes: {res} {unit} is about {pct:.0f}% of the limit of {g(lim)} {unit}."
            rest = [f"The expanded uncertainty for this parameter is around ±{u}%, so even allowing for it the result is clearly on the right side of the limit.",
                    "There's a comfortable margin, so no action is needed. If this is a recurring check, keep an eye on the trend rather than single values.",
                    f"The line also tells you the method used ({method}), which your customer may want to see if they specify one."]
        elif case == "near":
            lo_r, hi_r = v * (1 - u / 100), v * (1 + u / 100)
            core = f"It's a pass, but only just: {res} {unit} against a limit of {rel} {g(lim)} {unit}."
            rest = [f"Our expanded uncertainty for {an} is about ±{u}% (k = 2), so the true value could be roughly {fmt_val(lo_r)}–{fmt_val(hi_r)} {unit}, a range that overlaps the limit.",
                    "The report applies the simple acceptance decision rule unless another rule was agreed, which is why the conclusion says Pass. A customer using guard bands might see it differently.",
                    "What I would do:\n" + bullets(["check with your customer which decision rule they apply",
                                                     "look for the cause of the small margin in your process or raw materials",
                                                     "test the next batches more frequently until you have a bigger safety margin"], lang, numbered=True)]
        else:
            if kind == "min":
                core = f"This result fails: {res} {unit} is below the required minimum of {g(lim)} {unit}."
            else:
                over = (v / lim - 1) * 100
                core = f"This result fails: {res} {unit} exceeds the limit of {g(lim)} {unit} by about {over:.0f}%."
            rest = ["A failed result can't be changed into a pass on the report, but you have options:\n" + bullets([
                        "ask for a retest of the retained sample within 15 days if you doubt the measurement",
                        "check how the sample was taken and whether it is representative",
                        "investigate the source: raw materials, suppliers and recent process changes",
                        "send a new sample from a corrected batch for a fresh report"], lang, numbered=True),
                    "The difference from the limit is well beyond the measurement uncertainty, so a retest is unlikely to change the conclusion." if (kind == "max" and v > lim * 1.3) or (kind == "min" and v < lim * 0.93)
                    else "The margin is not huge compared with the measurement uncertainty, so a retest of the retained sample can be worthwhile.",
                    "If the product is already on the market, check whether you have reporting obligations towards your customer or the authorities."]
        closing = "Feel free to paste the other lines of the report too if you'd like me to go through them."
    else:
        rel = "≥" if kind == "min" else "≤"
        fields = [f"样品编号：{sid}", f"检测项目：{an}", f"检测结果：{res + ' ' + unit if res else '未检出'}"]
        if a["lod"] is not None:
            fields.append(f"检出限：{g(a['lod'])} {unit}")
        fields += [f"标准限值：{rel}{g(lim)} {unit}", f"检测方法：{method}", f"单项结论：{'符合' if passed else '不符合'}"]
        inp = " | ".join(fields)
        instr = ctx.choice(["这个结果算合格吗？", "能帮我解释一下报告里的这一行吗？", "报告上这一项是什么意思？",
                            "这个数据需要担心吗？", "这一项检测结果该怎么理解？", "这个结果超标了吗？"])
        u = a["u"]
        if case == "nd":
            core = f"合格。“未检出”表示{an}低于方法检出限{g(a['lod'])} {unit}，而标准限值是{g(lim)} {unit}，差得很远。"
            rest = ["未检出不代表含量绝对为零，只是低于方法能可靠检测的水平。",
                    f"如果客户需要具体数值，我们可以把结果改写为“<{g(a['lod'])} {unit}”重新出具。",
                    f"该项目采用的方法{method}在我们的认可范围内，这一行可以直接提供给客户或主管部门。"]
        elif case in ("below", "pass"):
            pct = v / lim * 100
            if kind == "min":
                core = f"合格。实测{res} {unit}，高于最低要求{g(lim)} {unit}约{pct - 100:.0f}%。"
            else:
                core = f"合格。实测{res} {unit}，约为限值{g(lim)} {unit}的{pct:.0f}%。"
            rest = [f"该项目的扩展不确定度约为±{u}%，即使考虑不确定度，结果也明显在合格一侧。",
                    "余量比较充足，不需要采取措施。如果是例行检测，建议关注多次结果的变化趋势，而不是只看单次数据。",
                    f"这一行还注明了检测方法（{method}），如果客户指定了方法，可以据此核对。"]
        elif case == "near":
            lo_r, hi_r = v * (1 - u / 100), v * (1 + u / 100)
            core = f"判定为合格，但非常接近限值：实测{res} {unit}，限值{rel}{g(lim)} {unit}。"
            rest = [f"{an}的扩展不确定度约为±{u}%（k=2），真值大约在{fmt_val(lo_r)}–{fmt_val(hi_r)} {unit}之间，这个区间与限值有重叠。",
                    "除非另有约定，报告采用简单接受判定规则，所以结论为“符合”。如果客户使用保护带规则，可能会得出不同结论。",
                    "建议：\n" + bullets(["和客户确认他们采用的判定规则", "排查工艺或原料，找出余量偏小的原因", "在余量恢复之前，提高后续批次的检测频次"], lang, numbered=True)]
        else:
            if kind == "min":
                core = f"不合格：实测{res} {unit}，低于最低要求{g(lim)} {unit}。"
            else:
                over = (v / lim - 1) * 100
                core = f"不合格：实测{res} {unit}，超过限值{g(lim)} {unit}约{over:.0f}%。"
            rest = ["报告上的不合格结论不能改成合格，但您可以：\n" + bullets([
                        "如对测量结果有疑问，在15天内申请用留样复测", "核查样品是怎么抽取的、是否有代表性",
                        "排查原因：原料、供应商以及近期的工艺变化", "整改后重新送样，出具新报告"], lang, numbered=True),
                    "与限值的差距明显大于测量不确定度，复测改变结论的可能性不大。" if (kind == "max" and v > lim * 1.3) or (kind == "min" and v < lim * 0.93)
                    else "超出的幅度与测量不确定度相比不算大，用留样复测是值得的。",
                    "如果产品已经上市，请确认是否需要向客户或监管部门报告。"]
        closing = "报告里其他项目也可以贴过来，我帮您一起看。"
    return (instr, inp), core, rest, closing


EXTRAS = {
    "tat": ["tracking", "form", "contact"],
    "price": [params_list, "refund", "contact"],
    "sample": ["form", "custody", "hazard"],
    "standard": [limits_list, params_list, "decision"],
    "lod": [lod_table, "lod_verify"],
    "report": ["structure", "verify", "decision"],
    "accreditation": ["about", "verify"],
    "retest": ["complaint", "custody"],
    "shipping": ["form", "hazard", "tracking"],
    "invoice": ["refund", "contact"],
    "confidentiality": ["security", "return"],
    "which_test": [limits_list, "form"],
    "input_sample": [limits_list, "form"],
    "input_report": ["structure", "verify"],
}


def extras(topic, t, lang):
    out = []
    for e in EXTRAS.get(topic, []):
        if t.get("mech") and (e is lod_table or e == "lod_verify"):
            continue
        if t.get("onsite") and e == "hazard":
            continue
        out.append(e(t, lang) if callable(e) else gen(e, lang))
    return out


TOPICS = [  # (name, builder, weight)
    ("which_test", b_which, 8), ("standard", b_standard, 9), ("sample", b_sample, 10), ("tat", b_tat, 10),
    ("price", b_price, 10), ("lod", b_lod, 8), ("report", b_report, 9), ("accreditation", b_accred, 7),
    ("retest", b_retest, 7), ("shipping", b_shipping, 8), ("invoice", b_invoice, 7), ("confidentiality", b_conf, 7),
]

# ---------------------------------------------------------------------------
# Follow-up questions for multi-turn conversations
# ---------------------------------------------------------------------------

DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "next week"]
DAYS_ZH = ["周一", "周二", "周三", "周四", "下周"]


def f_express(ctx, t, lang, prev):
    std, exp = t["tat"]
    name = T(t, lang, "name")
    if lang == "en":
        if prev == "tat":
            q = ctx.choice([f"You said {std} working days. Is there any way to get the {name} results faster?",
                            f"{std} working days is a bit long for us. Can you expedite the {name}?"])
        else:
            q = ctx.choice([f"How long would the {name} take, and is there an express option?", f"And what's the turnaround for {name} if we're in a hurry?"])
        core = f"The standard time is {std} working days; the express service cuts it to {exp} working days and adds 50% to the fee."
        rest = [t.get("en_tat_note") or "For a few parameters a 24-hour rush is possible at double the standard fee.",
                "Please mark EXPRESS on the application form and call us before shipping so we can reserve instrument time."]
    else:
        if prev == "tat":
            q = ctx.choice([f"您刚才说{std}个工作日，{name}有没有办法再快一点？", f"{std}个工作日对我们来说有点长，{name}能加急吗？"])
        else:
            q = ctx.choice([f"那{name}要多久？可以加急吗？", f"如果比较急，{name}最快多久能出？"])
        core = f"常规是{std}个工作日；加急可以缩短到{exp}个工作日，费用加收50%。"
        rest = [t.get("zh_tat_note") or "个别项目还可以做24小时特急，费用加倍。",
                "请在申请单上勾选“加急”，寄样前给我们打个电话，方便提前预留仪器。"]
    return q, core, rest, None


def f_discount(ctx, t, lang, prev):
    n = ctx.choice([10, 20, 30, 50, 80, 100])
    name = T(t, lang, "name")
    if lang == "en":
        q = ctx.choice([f"We'd have about {n} samples a month for {name}. Is there a discount on that price?",
                        f"If we send {n} samples at once for {name}, does the price come down?"])
        pct = "15%" if n >= 50 else "10%"
        core = f"Yes – at {n} samples you'd get {pct} off the list price."
        rest = ["For regular monthly volumes, an annual framework agreement is usually better: fixed unit prices, monthly invoicing and a dedicated account manager.",
                "Grouping the same parameters in one batch also helps, because we can run your samples together with shared calibration and quality control."]
    else:
        q = ctx.choice([f"我们每个月大概有{n}个样品要做{name}，价格能优惠吗？", f"如果一次送{n}个样品做{name}，价格能便宜点吗？"])
        pct = "八五折" if n >= 50 else "九折"
        core = f"可以，{n}个样品可以享受{pct}。"
        rest = ["如果每个月都有稳定的量，建议签年度框架协议：单价固定、按月开票，还有专属客户经理对接。",
                "同一批次送检相同项目也能降低成本，因为可以共用校准和质控。"]
    return q, core, rest, None


def f_english(ctx, t, lang, prev):
    name = T(t, lang, "name")
    if lang == "en":
        q = ctx.choice([f"Can the {name} report also be issued in English?", f"Our customer abroad needs the {name} report in English. Is that possible?"])
        core = "Yes. We can issue an English or a bilingual Chinese-English report; it's free if you request it on the application form."
        rest = ["Converting a Chinese report into English after it has been issued costs CNY 100 and takes about two working days.",
                "The CNAS mark with the ILAC-MRA logo appears on the English version too, which helps with acceptance abroad."]
    else:
        q = ctx.choice([f"{name}的报告可以出英文版吗？", f"国外客户要{name}的英文报告，可以吗？"])
        core = "可以，英文版或中英文双语报告都能出，在申请单上注明就不额外收费。"
        rest = ["如果报告已经签发，再转换成英文版需要100元，大约两个工作日。",
                "英文版报告同样带有CNAS和ILAC-MRA标识，便于国外客户认可。"]
    return q, core, rest, None


def f_retest(ctx, t, lang, prev):
    name = T(t, lang, "name")
    if lang == "en":
        q = (f"And if the {name} result doesn't meet the specification, can you retest?" if t.get("mech")
             else f"And if the {name} result comes back over the limit, can you retest the same sample?")
        if t.get("mech"):
            core = "Yes, on new specimens: the tested ones are broken, and product standards usually allow a retest on twice the number of specimens."
        elif t.get("micro") or t.get("onsite"):
            core = "For this test a retest needs a new sample or a new sampling visit; the original can't be re-measured meaningfully."
        else:
            core = "Yes, within 15 days of the report we can retest the retained sample."
        rest = ["If the retest confirms the original result the normal fee applies; if our first result turns out wrong, the retest is free and we issue a corrected report.",
                "We also review the raw data and quality control records before retesting, which often explains a surprising result."]
    else:
        q = (f"如果{name}结果达不到要求，可以复验吗？" if t.get("mech") else f"如果{name}结果超标了，可以用同一个样品复测吗？")
        if t.get("mech"):
            core = "可以，但要用新试样：原试样已经拉断，产品标准一般允许取双倍数量的试样复验。"
        elif t.get("micro") or t.get("onsite"):
            core = "这个项目复测需要重新送样或重新上门采样，原样品无法有意义地重复测定。"
        else:
            core = "可以，报告发出后15天内可以用留样复测。"
        rest = ["如果复测结果与原结果一致，按正常费用收取；如果证明第一次结果有误，复测免费并出具更正报告。",
                "复测之前我们还会复核原始数据和质控记录，很多时候能找到结果异常的原因。"]
    return q, core, rest, None


def f_shipping(ctx, t, lang, prev):
    sample = ctx.choice(T(t, lang, "samples"))
    if t.get("onsite"):
        return None
    if lang == "en":
        q = ctx.choice([f"OK. How should I ship the {sample} you mentioned?", f"Got it. Where do I send the {sample}, and how?"])
        core = f"Send them by courier to {ADDR_EN}; {t['en_store']}."
        rest = ["Put the completed application form in a separate bag inside the box, and avoid shipping on a Friday.",
                "Email us the tracking number so reception can look out for the parcel."]
    else:
        q = ctx.choice([f"好的，那{sample}怎么寄给你们？", f"明白了，{sample}寄到哪里？要注意什么？"])
        core = f"快递寄到{ADDR_ZH}即可；{t['zh_store']}。"
        rest = ["填好的申请单单独装袋放在箱内，尽量不要周五寄出。", "寄出后把快递单号发给我们，方便前台留意签收。"]
    return q, core, rest, None


def f_nd(ctx, t, lang, prev):
    a = ctx.choice(t["analytes"])
    if a["lod"] is None:
        return None
    if lang == "en":
        q = f"What will the report show for {a['en']} if nothing is found?"
        core = f"It will say ND (not detected) with the detection limit, i.e. \"ND (< {g(a['lod'])} {a['unit']})\"."
        rest = ["ND counts as compliant whenever the detection limit is below the limit, which it is here.",
                "If you prefer, the report can use the \"< LOD\" form instead of ND; just tell us before testing."]
    else:
        q = f"如果{a['zh']}没测出来，报告上会怎么写？"
        core = f"会写“未检出”并注明检出限，即“ND（<{g(a['lod'])} {a['unit']}）”。"
        rest = ["只要检出限低于标准限值，未检出就判定为符合，这里正是这种情况。", "如果您更习惯“<检出限”的写法，检测前告诉我们即可。"]
    return q, core, rest, None


def f_accred(ctx, t, lang, prev):
    name = T(t, lang, "name")
    if lang == "en":
        q = ctx.choice([f"Will that {name} report have the CNAS and CMA marks?", f"Is the {name} report accredited, by the way?"])
        core = f"Yes, {name} is in both our CNAS ({CNAS_NO}) and CMA scopes, so the report carries both marks."
        rest = ["CNAS accreditation is recognised abroad through ILAC-MRA; the CMA mark is what Chinese authorities require."]
    else:
        q = ctx.choice([f"这个{name}报告有CNAS和CMA标识吗？", f"顺便问一下，{name}的报告是有资质的吗？"])
        core = f"有的，{name}同时在我们的CNAS（{CNAS_NO}）和CMA范围内，报告加盖两个标识。"
        rest = ["CNAS认可通过ILAC-MRA在国际上互认；CMA则是国内主管部门要求的资质标志。"]
    return q, core, rest, None


def f_less(ctx, t, lang, prev):
    if prev != "sample" or t.get("onsite"):
        return None
    sample = ctx.choice(T(t, lang, "samples"))
    if lang == "en":
        q = f"What if I can only get about half that amount of {sample}?"
        core = "Talk to us before sending: we may be able to prioritise the key parameters with less sample."
        rest = ["The trade-offs are a possibly higher detection limit and no retained portion for a retest.",
                "For microbiology or sampling-plan tests the number of units can't be reduced without changing how the result can be used."]
    else:
        q = f"如果{sample}只能凑到一半的量怎么办？"
        core = "送样前先和我们沟通，我们可以优先保证关键项目。"
        rest = ["代价是检出限可能升高，而且没有留样可以复测。", "微生物或按采样方案判定的项目，样品数量减少会影响结果的使用。"]
    return q, core, rest, None


def f_thanks(ctx, t, lang, prev):
    sample = ctx.choice(T(t, lang, "samples"))
    if lang == "en":
        day = ctx.choice(DAYS_EN)
        q = ctx.choice([f"Great, thanks. I'll send the {sample} on {day}.", f"Perfect, that helps. We'll get the {sample} ready by {day}."])
        core = ctx.choice(["You're welcome! Please include the completed application form and email us the tracking number.",
                           "Glad to help. We'll confirm receipt by email as soon as the samples are logged in."])
    else:
        day = ctx.choice(DAYS_ZH)
        q = ctx.choice([f"好的，谢谢！我{day}把{sample}寄过去。", f"明白了，我们{day}准备好{sample}。"])
        core = ctx.choice(["不客气！记得随样附上填好的申请单，寄出后把单号发给我们。", "好的，样品登记后我们会邮件通知您已收到。"])
    return q, core, [], None


FOLLOWUPS = [f_express, f_discount, f_english, f_retest, f_shipping, f_nd, f_accred, f_less]
FIRST_TOPICS = [("tat", b_tat), ("price", b_price), ("sample", b_sample), ("standard", b_standard), ("lod", b_lod), ("accreditation", b_accred)]


# ---------------------------------------------------------------------------
# Record generation
# ---------------------------------------------------------------------------

def conv_chars(rec):
    n = len(rec["system"] or "")
    for ex in rec["turns"]:
        n += len(user_text(ex)) + len(ex["output"])
    return n


def user_text(ex):
    return ex["instruction"] + ("\n" + ex["input"] if ex["input"] else "")


def register(ctx, rec):
    for ex in rec["turns"]:
        ctx.used_user[user_text(ex)] = True
        ctx.used_instr[ex["instruction"]] = True


def is_fresh(ctx, instr, user, seen_local=None):
    if user in ctx.used_user or instr in ctx.used_instr:
        return False
    if seen_local is not None and (user in seen_local or instr in seen_local):
        return False
    return True


def make_single(ctx, lang, with_input, system):
    names = [tp[0] for tp in TOPICS]
    weights = [tp[2] for tp in TOPICS]
    builders = {tp[0]: tp[1] for tp in TOPICS}
    for _ in range(1000):
        t = ctx.choice(TESTS)
        if with_input:
            topic = "input_report" if ctx.rng.random() < 0.55 else "input_sample"
            r = (b_input_report if topic == "input_report" else b_input_sample)(ctx, t, lang)
        else:
            topic = ctx.rng.choices(names, weights)[0]
            r = builders[topic](ctx, t, lang)
        if r is None:
            continue
        q, core, rest, closing = r
        rest = rest + extras(topic, t, lang)
        if isinstance(q, tuple):
            base_instr, inp = q
        else:
            base_instr, inp = q, ""
        for _ in range(30):
            instr = ctx.wrap_q(lang, base_instr)
            user = instr + ("\n" + inp if inp else "")
            if is_fresh(ctx, instr, user):
                break
        else:
            continue
        kmax = None
        while True:
            out = assemble(ctx, core, rest, closing, kmax)
            rec = {"lang": lang, "system": system, "topic": topic, "test": t["key"],
                   "turns": [{"instruction": instr, "input": inp, "output": out}]}
            if conv_chars(rec) <= MAX_CHARS:
                break
            kmax = (len(rest) if kmax is None else kmax) - 1
        register(ctx, rec)
        return rec
    raise RuntimeError("could not build a fresh single-turn record")


def make_multi(ctx, lang, system):
    for _ in range(1000):
        t = ctx.choice(TESTS)
        topic, builder = ctx.choice(FIRST_TOPICS)
        q, core, rest, closing = builder(ctx, t, lang)
        rest = rest + extras(topic, t, lang)
        instr = ctx.wrap_q(lang, q)
        turns = [{"instruction": instr, "input": "", "output": assemble(ctx, core, rest, closing, kmax=2)}]
        n_follow = ctx.choice([1, 1, 2, 2, 3])
        pool = list(FOLLOWUPS)
        ctx.rng.shuffle(pool)
        prev = topic
        for f in pool:
            if len(turns) - 1 >= n_follow:
                break
            if len(turns) - 1 == n_follow - 1 and n_follow >= 2 and ctx.rng.random() < 0.35:
                f = f_thanks
            r = f(ctx, t, lang, prev)
            if r is None:
                continue
            fq, fcore, frest, _ = r
            turns.append({"instruction": fq, "input": "", "output": assemble(ctx, fcore, frest, None, kmax=2)})
            prev = f.__name__
        if len(turns) < 2:
            continue
        seen = {}
        ok = True
        for ex in turns:
            if not is_fresh(ctx, ex["instruction"], user_text(ex), seen):
                ok = False
                break
            seen[ex["instruction"]] = True
        if not ok:
            continue
        rec = {"lang": lang, "system": system, "topic": "multi:" + topic, "test": t["key"], "turns": turns}
        if conv_chars(rec) > MAX_CHARS:
            continue
        register(ctx, rec)
        return rec
    raise RuntimeError("could not build a fresh multi-turn record")


def build_records(ctx):
    rng = ctx.rng
    kinds = [("single", False)] * N_SINGLE + [("multi", False)] * N_MULTI
    n_input = round(N_SINGLE * INPUT_SHARE)
    input_idx = sorted(rng.sample(range(N_SINGLE), n_input))
    kinds = [("single", i in input_idx) if k == "single" else (k, f) for i, (k, f) in enumerate(kinds)]
    order = list(range(len(kinds)))
    rng.shuffle(order)
    langs = (["zh", "en"] * len(kinds))[:len(kinds)]
    rng.shuffle(langs)
    records = []
    for pos, i in enumerate(order):
        kind, with_input = kinds[i]
        lang = langs[pos]
        system = None
        if rng.random() < SYSTEM_SHARE:
            system = rng.choice(SYSTEM_ZH if lang == "zh" else SYSTEM_EN)
        if kind == "single":
            rec = make_single(ctx, lang, with_input, system)
        else:
            rec = make_multi(ctx, lang, system)
        records.append(rec)
    for n, rec in enumerate(records, 1):
        rec["id"] = f"lab-{n:04d}"
    return records


# ---------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------

def to_alpaca(rec):
    last = rec["turns"][-1]
    obj = {"instruction": last["instruction"], "input": last["input"], "output": last["output"]}
    if rec["system"]:
        obj["system"] = rec["system"]
    if len(rec["turns"]) > 1:
        obj["history"] = [[user_text(ex), ex["output"]] for ex in rec["turns"][:-1]]
    return obj


def to_sharegpt(rec):
    conv = []
    if rec["system"]:
        conv.append({"from": "system", "value": rec["system"]})
    for ex in rec["turns"]:
        conv.append({"from": "human", "value": user_text(ex)})
        conv.append({"from": "gpt", "value": ex["output"]})
    return {"conversations": conv}


def to_messages(rec):
    msgs = []
    if rec["system"]:
        msgs.append({"role": "system", "content": rec["system"]})
    for ex in rec["turns"]:
        msgs.append({"role": "user", "content": user_text(ex)})
        msgs.append({"role": "assistant", "content": ex["output"]})
    return {"messages": msgs}


def jline(obj):
    return json.dumps(obj, ensure_ascii=False)


def write_text(name, text):
    with open(os.path.join(HERE, name), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def csv_text(header, rows):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Dirty file with planted problems
# ---------------------------------------------------------------------------

WORD_SWAPS_EN = [("samples", "specimens"), ("sample", "specimen"), ("report", "certificate"), ("need", "require"),
                 ("test", "analysis"), ("price", "cost"), ("send", "ship"), ("How", "What")]
WORD_SWAPS_ZH = [("检测", "检验"), ("样品", "样本"), ("报告", "证书"), ("需要", "要"), ("多少", "几多"), ("可以", "能")]
HALF_TO_FULL = [(",", "，"), ("?", "？"), (":", "："), ("(", "（"), (")", "）")]


def near_variant(rng, obj, lang, kind):
    """Return (new_obj, detail) – the same conversation with a tiny change."""
    new = json.loads(json.dumps(obj))
    conv = new["conversations"]
    hi = next(i for i, m in enumerate(conv) if m["from"] == "human")
    gi = next(i for i, m in enumerate(conv) if m["from"] == "gpt")
    h, a = conv[hi]["value"], conv[gi]["value"]
    if kind == "whitespace":
        h2 = h.replace(" ", "  ", 1) if " " in h else h + "  "
        h2 = h2 + " "
        a2 = a.replace("\n\n", "\n\n\n", 1) + "\n"
        detail = "extra spaces in the question, extra blank line and trailing newline in the answer"
    elif kind == "punctuation":
        stripped = h.rstrip("?？.。!！")
        h2 = stripped if stripped != h else h + ("？" if lang == "zh" else "?")
        a2 = a
        detail = "final punctuation of the question removed or added"
    elif kind == "width":
        if lang == "zh":
            h2, a2 = h, a
            for half, full in HALF_TO_FULL:
                h2, a2 = h2.replace(full, half), a2.replace(full, half)
            detail = "full-width punctuation replaced by half-width"
        else:
            h2, a2 = h, a
            for half, full in HALF_TO_FULL:
                h2, a2 = h2.replace(half, full), a2.replace(half, full)
            detail = "half-width punctuation replaced by full-width"
    else:
        swaps = WORD_SWAPS_ZH if lang == "zh" else WORD_SWAPS_EN
        h2 = h
        detail = "one word changed"
        for old, repl in swaps:
            if old in h:
                h2 = h.replace(old, repl, 1)
                detail = f"one word changed in the question ({old} -> {repl})"
                break
        a2 = a
    if h2 == h and a2 == a:
        h2 = h + " "
        detail = "trailing space added to the question"
    conv[hi]["value"], conv[gi]["value"] = h2, a2
    return new, detail


def make_dirty(ctx, records):
    rng = ctx.rng
    all_idx = list(range(len(records)))
    base_idx = sorted(rng.sample(all_idx, N_DIRTY_BASE))
    in_base = {i: True for i in base_idx}
    spare = [i for i in all_idx if i not in in_base]
    rng.shuffle(spare)
    spare = iter(spare)

    def spare_rec(single=None, no_system=False):
        while True:
            r = records[next(spare)]
            if single is not None and (len(r["turns"]) == 1) != single:
                continue
            if no_system and r["system"]:
                continue
            return r

    base = [{"text": jline(to_sharegpt(records[i])), "problem": None, "rec": records[i]} for i in base_idx]
    planted = []

    def plant(problem, obj=None, text=None, detail="", **kw):
        if text is None:
            text = jline(obj)
        planted.append(dict(problem=problem, text=text, detail=detail, **kw))

    for _ in range(6):
        plant("exact_duplicate", text="", detail="identical copy of an earlier line")
    for kind in ["whitespace", "punctuation", "width", "word", "width", "whitespace"]:
        plant("near_duplicate", text="", kind=kind)

    for v, d in [("", "empty string"), ("   ", "spaces only"), ("\n", "newline only"), (" \n\t ", "mixed whitespace")]:
        obj = to_sharegpt(spare_rec())
        obj["conversations"][-1]["value"] = v
        plant("empty_answer", obj, detail=f"last assistant answer is {d}")

    # overlong answers (> 20,000 characters)
    r = spare_rec(single=True)
    t = next(x for x in TESTS if x["key"] == r["test"])
    a = t["analytes"][0]
    rows = ["Raw data export (all replicates):", "No. | Sample ID | Analyte | Replicate | Result | Unit | QC flag"]
    k = 0
    while sum(len(x) + 1 for x in rows) < 21000:
        k += 1
        base_v = a["limit"] * (0.2 + 0.6 * rng.random())
        rows.append(f"{k:04d} | HC24-{70000 + k // 3} | {a['en']} | R{k % 3 + 1} | {fmt_val(base_v)} | {a['unit']} | OK")
    obj = to_sharegpt(r)
    obj["conversations"][-1]["value"] = "\n".join(rows)
    plant("overlong", obj, detail=f"answer is a {len(obj['conversations'][-1]['value'])}-character raw data dump")

    r = spare_rec(single=True)
    obj = to_sharegpt(r)
    ans = obj["conversations"][-1]["value"]
    rep = [ans]
    while sum(len(x) + 2 for x in rep) < 21000:
        rep.append(ans)
    obj["conversations"][-1]["value"] = "\n\n".join(rep)
    plant("overlong", obj, detail=f"answer repeated {len(rep)} times (degenerate generation)")

    r = spare_rec(single=True)
    obj = to_sharegpt(r)
    parts = [obj["conversations"][-1]["value"]]
    j = 0
    while sum(len(x) + 2 for x in parts) < 21000:
        parts.append(records[j]["turns"][-1]["output"])
        j += 1
    obj["conversations"][-1]["value"] = "\n\n".join(parts)
    plant("overlong", obj, detail="answer runs on into unrelated answers (missing stop token)")

    # malformed lines
    r = spare_rec()
    s = jline(to_sharegpt(r))
    plant("malformed_json", text=s[: len(s) // 2], detail="truncated JSON object")
    r = spare_rec()
    plant("malformed_json", text=json.dumps(user_text(r["turns"][0]), ensure_ascii=False), detail="bare JSON string instead of an object")
    r = spare_rec(single=True)
    plain = ("Q: " + user_text(r["turns"][0]) + " A: " + r["turns"][0]["output"]).replace("\n", " ")
    plant("malformed_json", text=plain, detail="plain text, not JSON")
    r = spare_rec()
    s = jline(to_sharegpt(r))
    plant("malformed_json", text=s[:-1] + ",}", detail="trailing comma before the closing brace")
    r = spare_rec()
    plant("malformed_json", text=repr(to_sharegpt(r)), detail="Python dict repr with single quotes")

    # roles out of order
    r = spare_rec(single=True, no_system=True)
    conv = to_sharegpt(r)["conversations"]
    plant("role_order", {"conversations": [conv[1], conv[0]]}, detail="gpt turn before the human turn")
    r = spare_rec(single=True, no_system=True)
    r2 = spare_rec(single=True)
    conv = to_sharegpt(r)["conversations"]
    extra = {"from": "human", "value": user_text(r2["turns"][0])}
    plant("role_order", {"conversations": [conv[0], extra, conv[1]]}, detail="two human turns in a row")
    r = spare_rec(single=True, no_system=True)
    r2 = spare_rec(single=True)
    conv = to_sharegpt(r)["conversations"]
    plant("role_order", {"conversations": [conv[0], conv[1], {"from": "gpt", "value": r2["turns"][0]["output"]}]}, detail="two gpt turns in a row")

    # conversations without an assistant answer
    r = spare_rec(single=True, no_system=True)
    plant("no_assistant", {"conversations": [{"from": "human", "value": user_text(r["turns"][0])}]}, detail="only a human turn")
    r = spare_rec(single=True)
    sysmsg = r["system"] or (SYSTEM_ZH[0] if r["lang"] == "zh" else SYSTEM_EN[0])
    plant("no_assistant", {"conversations": [{"from": "system", "value": sysmsg}, {"from": "human", "value": user_text(r["turns"][0])}]},
          detail="system and human turns, no gpt turn")

    # non-string values
    r = spare_rec(single=True)
    obj = to_sharegpt(r)
    obj["conversations"][-1]["value"] = 1200
    plant("non_string", obj, detail="assistant value is a number")
    r = spare_rec(single=True)
    obj = to_sharegpt(r)
    hi = next(i for i, m in enumerate(obj["conversations"]) if m["from"] == "human")
    obj["conversations"][hi]["value"] = None
    plant("non_string", obj, detail="human value is null")
    r = spare_rec(single=True)
    obj = to_sharegpt(r)
    obj["conversations"][-1]["value"] = obj["conversations"][-1]["value"].split("\n\n")
    plant("non_string", obj, detail="assistant value is a list of strings")

    plant("blank_line", text="", detail="empty line")

    # spread the planted lines evenly through the file
    P = len(planted)
    L = len(base) + P
    slots, last = [], -1
    for j in range(P):
        s = int((j + 0.5) * L / P) + rng.randint(-1, 1)
        s = max(s, last + 1)
        slots.append(s)
        last = s
    assert slots[-1] < L
    rng.shuffle(planted)
    # duplicates need originals before them: keep them out of the first slots
    for j in range(P):
        if planted[j]["problem"] in ("exact_duplicate", "near_duplicate") and slots[j] < 12:
            for m in range(P - 1, j, -1):
                if planted[m]["problem"] not in ("exact_duplicate", "near_duplicate"):
                    planted[j], planted[m] = planted[m], planted[j]
                    break
    final = [None] * L
    for s, p in zip(slots, planted):
        final[s] = p
    it = iter(base)
    for n in range(L):
        if final[n] is None:
            final[n] = next(it)

    used_orig = {}
    for n, e in enumerate(final):
        if e["problem"] in ("exact_duplicate", "near_duplicate"):
            cands = [m for m in range(n - 2) if final[m]["problem"] is None and m not in used_orig
                     and len(final[m]["rec"]["turns"]) == 1]
            m = rng.choice(cands)
            used_orig[m] = True
            e["dup_of"] = m
            orig = final[m]
            if e["problem"] == "exact_duplicate":
                e["text"] = orig["text"]
            else:
                new, detail = near_variant(rng, json.loads(orig["text"]), orig["rec"]["lang"], e["kind"])
                e["text"] = jline(new)
                e["detail"] = detail

    manifest = []
    for n, e in enumerate(final):
        if e["problem"] is None:
            continue
        item = {"line": n + 1, "problem": e["problem"]}
        if "dup_of" in e:
            item["duplicate_of"] = e["dup_of"] + 1
        item["detail"] = e["detail"]
        manifest.append(item)
    text = "".join(e["text"] + "\n" for e in final)
    return text, manifest, len(base)


def verify_dirty(path, manifest):
    """Re-read the written dirty file and check every manifest entry."""
    with open(path, encoding="utf-8", newline="") as fh:
        raw = fh.read()
    assert raw.endswith("\n") and "\r" not in raw
    lines = raw[:-1].split("\n")
    by_line = {m["line"]: m for m in manifest}

    def parse(s):
        try:
            return json.loads(s)
        except ValueError:
            return None

    for n, s in enumerate(lines, 1):
        m = by_line.get(n)
        p = m["problem"] if m else None
        obj = parse(s)
        if p == "blank_line":
            assert s == "", n
            continue
        if p == "malformed_json":
            assert not isinstance(obj, dict), n
            continue
        assert isinstance(obj, dict) and isinstance(obj.get("conversations"), list), n
        conv = obj["conversations"]
        vals = [c["value"] for c in conv]
        roles = [c["from"] for c in conv if c["from"] != "system"]
        if p == "non_string":
            assert any(not isinstance(v, str) for v in vals), n
            continue
        assert all(isinstance(v, str) for v in vals), n
        if p == "exact_duplicate":
            assert s == lines[m["duplicate_of"] - 1] and m["duplicate_of"] < n, n
        elif p == "near_duplicate":
            o = lines[m["duplicate_of"] - 1]
            assert s != o and m["duplicate_of"] < n, n
        elif p == "empty_answer":
            assert vals[-1].strip() == "", n
        elif p == "overlong":
            assert max(len(v) for v, c in zip(vals, conv) if c["from"] == "gpt") > 20000, n
        elif p == "role_order":
            ok = all(r == ("human" if i % 2 == 0 else "gpt") for i, r in enumerate(roles))
            assert not ok, n
        elif p == "no_assistant":
            assert "gpt" not in roles, n
        else:
            # a clean line: well-formed and alternating, non-empty, not overlong
            assert p is None
            assert roles and all(r == ("human" if i % 2 == 0 else "gpt") for i, r in enumerate(roles)) and len(roles) % 2 == 0, n
            assert all(v.strip() for v in vals) and max(len(v) for v in vals) < 20000, n
    # no accidental exact duplicates besides the planted ones
    first = {}
    for n, s in enumerate(lines, 1):
        if s in first and by_line.get(n, {}).get("problem") != "exact_duplicate":
            raise AssertionError(f"unplanned duplicate on line {n}")
        first.setdefault(s, n)
    return len(lines)


# ---------------------------------------------------------------------------
# README and main
# ---------------------------------------------------------------------------

def readme_text(records, manifest, n_dirty_lines, n_dirty_base):
    singles = [r for r in records if len(r["turns"]) == 1]
    multis = [r for r in records if len(r["turns"]) > 1]
    zh = sum(r["lang"] == "zh" for r in records)
    sys_n = sum(bool(r["system"]) for r in records)
    inp_n = sum(bool(r["turns"][0]["input"]) for r in singles)
    ex_counts = {}
    for r in multis:
        ex_counts[len(r["turns"])] = ex_counts.get(len(r["turns"]), 0) + 1
    lens = sorted(conv_chars(r) for r in records)
    p90 = lens[int(0.9 * (len(lens) - 1))]
    prob = {}
    for m in manifest:
        prob[m["problem"]] = prob.get(m["problem"], 0) + 1
    zh_single = sum(r["lang"] == "zh" for r in singles)
    ex_txt = ", ".join(f"{v} with {k} exchanges" for k, v in sorted(ex_counts.items()))
    lines = [
        "# Sample data: Huace Lab consultant (demo)",
        "",
        "A small bilingual (Simplified Chinese / English) instruction dataset for trying danlu:",
        "a customer-support assistant for a fictional commercial testing laboratory (\"Huace Lab\" / \"华测实验室\").",
        "Questions cover which test to order, standards, sample amount and packaging, turnaround, prices,",
        "detection limits, reading reports, accreditation, retests, shipping, invoices and confidentiality.",
        "All names, prices, addresses and accreditation numbers are made up; do not use the answers as real advice.",
        "",
        "## Files",
        "",
        "| File | Content |",
        "|---|---|",
        f"| `lab_consultant.alpaca.json` | JSON array, Alpaca format: `instruction`, `input`, `output`, plus `system` and `history` (earlier `[user, assistant]` pairs) when present |",
        f"| `lab_consultant.sharegpt.jsonl` | ShareGPT JSONL: `{{\"conversations\": [{{\"from\": \"system\"/\"human\"/\"gpt\", \"value\": ...}}]}}`; a human turn with Alpaca input is `instruction + \"\\n\" + input` |",
        f"| `lab_consultant.messages.jsonl` | OpenAI-style JSONL: `{{\"messages\": [{{\"role\": \"system\"/\"user\"/\"assistant\", \"content\": ...}}]}}` |",
        f"| `lab_consultant.csv` | single-turn records only, columns `id,lang,instruction,input,output` (multi-line cells are quoted; the system prompt is not included) |",
        f"| `lab_consultant_zh_headers.csv` | Chinese single-turn records only, columns `问题,回答` (for column-mapping detection) |",
        f"| `lab_consultant.dirty.jsonl` | ShareGPT JSONL with deliberately planted problems, for the data doctor |",
        f"| `dirty_manifest.json` | the planted problems: `line` (1-based), `problem`, `duplicate_of` (duplicates only), `detail` |",
        f"| `generator/make_sample_data.py` | the deterministic generator (standard library only; not installed) |",
        "",
        "The three clean formats hold the same conversations in the same order (ids `lab-0001` ... appear only in the CSV).",
        "",
        "## Counts",
        "",
        f"- {len(records)} conversations: {len(singles)} single-turn, {len(multis)} multi-turn ({ex_txt})",
        f"- {zh} Chinese, {len(records) - zh} English; {sys_n} with a system prompt; {inp_n} single-turn records with an Alpaca `input`",
        f"- `lab_consultant.csv`: {len(singles)} rows; `lab_consultant_zh_headers.csv`: {zh_single} rows",
        f"- total characters per conversation: min {lens[0]}, median {int(statistics.median(lens))}, p90 {p90}, max {lens[-1]} (spread on purpose, for packing benchmarks)",
        "",
        "## Planted problems in `lab_consultant.dirty.jsonl`",
        "",
        f"{n_dirty_lines} lines: {n_dirty_base} clean conversations plus {len(manifest)} planted problem lines, spread through the file:",
        "",
    ]
    for p in ["exact_duplicate", "near_duplicate", "empty_answer", "overlong", "malformed_json", "role_order", "no_assistant", "non_string", "blank_line"]:
        lines.append(f"- `{p}`: {prob.get(p, 0)}")
    lines += [
        "",
        "Notes: near duplicates differ by whitespace, punctuation, full/half-width punctuation or one word; overlong answers",
        "exceed 20,000 characters; one `malformed_json` line is a bare JSON string (valid JSON, but not an object). Every",
        "line not in the manifest is a clean conversation, and no other line is an exact duplicate.",
        "",
        "## Regenerate",
        "",
        "```",
        "python sample_data/generator/make_sample_data.py",
        "```",
        "",
        "The output is byte-for-byte identical on every run (fixed seed, no clock, no network).",
        "",
    ]
    return "\n".join(lines)


def main():
    ctx = Ctx(SEED)
    records = build_records(ctx)

    alpaca = [to_alpaca(r) for r in records]
    write_text("lab_consultant.alpaca.json", json.dumps(alpaca, ensure_ascii=False, indent=2) + "\n")
    write_text("lab_consultant.sharegpt.jsonl", "".join(jline(to_sharegpt(r)) + "\n" for r in records))
    write_text("lab_consultant.messages.jsonl", "".join(jline(to_messages(r)) + "\n" for r in records))

    singles = [r for r in records if len(r["turns"]) == 1]
    rows = [[r["id"], r["lang"], r["turns"][0]["instruction"], r["turns"][0]["input"], r["turns"][0]["output"]] for r in singles]
    write_text("lab_consultant.csv", csv_text(["id", "lang", "instruction", "input", "output"], rows))
    zrows = [[user_text(r["turns"][0]), r["turns"][0]["output"]] for r in singles if r["lang"] == "zh"]
    write_text("lab_consultant_zh_headers.csv", csv_text(["问题", "回答"], zrows))

    dirty, manifest, n_base = make_dirty(ctx, records)
    write_text("lab_consultant.dirty.jsonl", dirty)
    write_text("dirty_manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    n_lines = verify_dirty(os.path.join(HERE, "lab_consultant.dirty.jsonl"), manifest)

    write_text("README.md", readme_text(records, manifest, n_lines, n_base))
    print(f"{len(records)} conversations ({len(singles)} single-turn), dirty file {n_lines} lines, {len(manifest)} planted problems")


if __name__ == "__main__":
    main()
