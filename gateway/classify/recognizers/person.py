"""PERSON names the NER model misses: Chinese names, and English names after a title.

The English NER model does not read Chinese, and a bare Chinese name is two
or three characters that also spell ordinary words. A name is therefore
reported only where it is reliable (0.85):

- after a word that introduces a person: 客户, 姓名, 联系人, 持卡人, 户名,
  收款人, 付款人, 申请人, 借款人... (``客户王秀英的``, ``姓名：李雷``), when
  the name ends at punctuation or a word that follows names (的, 先生,
  身份证, 申请...) and is not a common word (余额, 申请, 满意...);
- before a form of address: 先生, 女士, 小姐, 太太, 老师... (``张先生``);

and only when it starts with one of the common Chinese surnames (single and
compound, covering the great majority of the population), followed by one or
two given-name characters that are not particles (的, 是, 在...).

English: a capitalised name after a title (``Mr``, ``Mrs``, ``Ms``, ``Dr``,
``Prof``, ``Herr``, ``Frau``, ``Mme``...) scores 0.85, and two or three
capitalised words after a word that introduces a person (``customer``,
``cardholder``, ``beneficiary``, ``Dear``...) score 0.6. The NER model finds
the rest.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.recognizers import salutation
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.name_shape import NOT_NAME_WORDS
from gateway.classify.script import has_han, has_hangul

_SINGLE_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    "常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季"
    "裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦"
    "戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻"
    "苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练"
    "廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿"
    "鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由阎傅"
)
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "百里", "呼延", "申屠", "太史", "闻人",
)  # fmt: skip
_NOT_IN_NAME = (
    "的了是在和与及或为于已向给被把对从到将说要您你我他她们账帐卡号电手身证银行"
    "请吗呢吧啊来去有无不也都还就会能可以这那哪个先女转汇"
)
_SURNAME = "(?:" + "|".join(_COMPOUND_SURNAMES) + f"|[{_SINGLE_SURNAMES}])"
_GIVEN = rf"(?:(?![{_NOT_IN_NAME}])[\u4e00-\u9fff]){{1,2}}"
_ZH_INTRO = (
    "姓名|名字|客户|客戶|顾客|联系人|聯繫人|持卡人|户名|戶名|账户名|帳戶名|开户人|开户名|收款人|付款人|"
    "汇款人|申请人|申請人|借款人|贷款人|担保人|擔保人|委托人|受益人|投保人|被保险人|法人|法定代表人|员工|職員|职员"
)
_ZH_ADDRESS = "先生|女士|小姐|太太|夫人|同志|老师|老師"
# After an introducing word, a name is followed by punctuation, the end, or
# words that follow names in bank texts; ordinary words that start with a
# surname character (余额, 申请, 满意...) are not names.
_ZH_AFTER_NAME = (
    r"(?=$|[\s，。、；：:,.;!?！？（）()“”\"'0-9A-Za-z]|的|之|于|在|已|称|说|表示|反映|来电|致电|"
    r"咨询|投诉|申请|办理|要求|需要|因|与|和|及|等|先生|女士|小姐|身份证|证件|手机|电话|账|帐|卡|名下|本人|"
    r"核实|确认|联系|提交|签署|反馈|还款|转账|预约|现居|现住|要求|希望|向|给|把|将|对|从|通过|汇款|付款|"
    r"打电话|打来|开会|见面|面谈|通话|谈|讲|签约|昨天|今天)"
)
_ZH_NOT_NAMES = (
    "(?!余额|满意|关系|安全|应当|申请|支付|付款|高端|高风险|高净值|万元|方面|方式|方便|信息|金额|"
    "金融|时间|成本|文件|管理|利率|利息|全部|全面|国内|国际|明细|明确|龙头|资金|数量|需求|经理|"
    "公司|公民|公众|公积金|银行|本行|我行|贵行|该行|客户|用户|企业|单位|个人|家庭|国家|政府|商户|商家|机构|"
    "平台|系统|对方|双方|甲方|乙方|部门|分行|支行|总行|集团|学校|医院|法院|税务|海关|保险|基金|证券|信托|"
    "市场|项目|产品|合同|平安|华夏|光大|民生|招商|交通|农业|工商|建设|中国|中信|浦发|兴业|广发|邮政)"
)

_EN_TITLE = r"Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Lady|Lord|Herr|Frau|Mme|Mlle|Madame|Monsieur|Señor|Señora"
_EN_INTRO = (
    r"(?i:customer|client|cardholder|card holder|account holder|account name|beneficiary|payee|"
    r"payer|remitter|applicant|borrower|co-borrower|guarantor|signatory|policyholder|insured|"
    r"employee|contact person|name|named|dear|attn|attention|spoke with|spoke to|called)"
)
_EN_NAME_WORD = rf"(?!(?:{_EN_TITLE})\b)[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)?"
# Capitalised words that follow "customer", "Dear"... without being a name.
_NOT_A_NAME = (
    r"(?:Service|Services|Support|Success|Care|Team|Teams|Relations|Relationship|Experience|"
    r"Sir|Madam|Madame|Colleague|Colleagues|All|Customer|Customers|Client|Clients|Account|"
    r"Accounts|Manager|Management|Onboarding|Portal|Segment|Data|Name|Number|Information|Id|"
    r"Due|Diligence|Agreement|Contract|Reference|Feedback|Complaint|Complaints|Request|"
    r"Hello|Hi|Thanks|Thank|Please|Board|Committee|Department|Desk|Office|Bank|Banking)\b"
)

# Verbs and prepositions that take a person: a name right after one of them, closed the way
# names are (``请回电李娜，``, ``请给张伟转账``, ``已通知陈静办理``, ``请联系王芳确认``).
_ZH_TAKES_PERSON = (
    "核实|回电|回拨|致电|联系|通知|提醒|告知|回复|答复|转账给|汇款给|付款给|转给|寄给|发给|交给|给|向|"
    "代表|替|帮|为|与|和|跟|同|拜访|接待|邀请|感谢|问候|提醒|催收|核对|代|据"
)
# Where the name starts a sentence and its possession follows (``刘洋的新收货地址``).
_ZH_POSSESSION = (
    r"(?=的(?:新|旧|个人|银行|信用|借记)?(?:账户|帐户|账号|帐号|卡|信用卡|借记卡|贷款|房贷|存款|余额|地址|收货地址|"
    r"电话|手机|邮箱|身份证|护照|申请|订单|交易|还款|合同|保单|工资|投诉|资料|信息|证件|转账|汇款|付款))"
)
# Where the name opens a sentence and does what people do (``赵杨打电话询问``, ``王芳来电``).
_ZH_SUBJECT = r"(?=打电话|打来|来电|致电|说|表示|称|询问|咨询|投诉|反映|申请|要求|提出|希望|需要|想要|已经|昨天|今天)"
_PATTERNS: tuple[tuple[regex.Pattern[str], float], ...] = tuple(
    (regex.compile(pattern), score)
    for pattern, score in (
        (
            rf"(?<=(?:{_ZH_INTRO})[:：\s]{{0,2}}(?:是|为|為|叫)?[:：\s]{{0,2}})"
            rf"{_ZH_NOT_NAMES}{_SURNAME}{_GIVEN}{_ZH_AFTER_NAME}",
            0.85,
        ),
        (rf"{_SURNAME}(?:{_GIVEN})?(?=(?:{_ZH_ADDRESS}))", 0.85),
        (rf"(?<=(?:{_ZH_TAKES_PERSON})){_ZH_NOT_NAMES}{_SURNAME}{_GIVEN}{_ZH_AFTER_NAME}", 0.6),
        (rf"(?<=^|[\s，。、；：:,.;!?！？（）()“”\"']){_ZH_NOT_NAMES}{_SURNAME}{_GIVEN}{_ZH_POSSESSION}", 0.6),
        (rf"(?<=^|[\s，。、；：:,.;!?！？（）()“”\"']){_ZH_NOT_NAMES}{_SURNAME}{_GIVEN}{_ZH_SUBJECT}", 0.6),
    )
)
_LATIN = tuple((regex.compile(pattern), score, need) for pattern, score, need in salutation.LATIN_PATTERNS)
_CJK = salutation.compile_all(salutation.CJK_PATTERNS)
_KOREAN = salutation.compile_all(salutation.KOREAN_PATTERNS)
_CYRILLIC_GREEK = salutation.compile_all(salutation.CYRILLIC_GREEK_PATTERNS)
_CYRILLIC_OR_GREEK = regex.compile(r"[\p{Cyrillic}\p{Greek}]")
_NOT_NAMES = NOT_NAME_WORDS | salutation.NOT_NAME_WORDS


class PersonNameRecognizer(ScanningRecognizer):
    """PERSON: Chinese names in reliable positions, English names after titles."""

    ENTITY = "PERSON"

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        return self.scan_with(text, every=False)

    @staticmethod
    def scan_with(text: str, *, every: bool) -> Iterator[tuple[int, int, float]]:
        """The matches; ``every``: run each pattern, even where its script is absent (for tests).

        The Chinese and Japanese patterns cannot match without a Chinese character, the Korean
        ones without Hangul, the Russian and Greek ones without their letters: skipped on other
        text (most of a short English prompt's pattern pass otherwise)."""
        han = every or has_han(text)
        groups = (
            (_PATTERNS + _CJK, han),
            (_KOREAN, every or has_hangul(text)),
            (_CYRILLIC_GREEK, every or (not text.isascii() and _CYRILLIC_OR_GREEK.search(text) is not None)),
        )
        for patterns, wanted in groups:
            for pattern, score in patterns if wanted else ():
                for match in pattern.finditer(text):
                    yield match.start(), match.end(), score
        needs = None if every else salutation.latin_needs(text)
        for pattern, score, need in _LATIN:
            if needs is not None and not needs[need]:
                continue
            for match in pattern.finditer(text):
                span = _trimmed(match.group())
                if span is not None:
                    yield match.start() + span[0], match.start() + span[1], score


_WORDS = regex.compile(r"[\p{L}'’-]+")


def _trimmed(name: str) -> tuple[int, int] | None:
    """The name without trailing non-name words (``Kunde Max Müller Service``); None if its first
    word is not a name or nothing of two words is left where two were needed."""
    words = list(_WORDS.finditer(name))
    if not words or words[0].group().lower() in _NOT_NAMES:
        return None
    end = len(words)
    while end > 1 and words[end - 1].group().lower() in _NOT_NAMES:
        end -= 1
    if end < len(words) and end < 2:
        return None
    return 0, words[end - 1].end()
