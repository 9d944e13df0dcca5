"""Chinese names for the synthetic city: street name roots and endings, sub-district names,
ordinals, directions and quadrants (for clinic names)."""

from __future__ import annotations


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ARTERIAL_ROOTS = words(
    """
    新华 中山 人民 解放 成吉思汗 锡林郭勒 呼伦贝尔 鄂尔多斯 乌兰察布 兴安 海拉尔 昭乌达 巴彦淖尔
    阿拉善 大学 如意 金桥 滨河 东风 胜利 团结 和平 光明 建设 通道 丰州 鼓楼 石羊桥 展览馆 车站
    民族 文化 昭君 青城 大召 赛罕 新城 回民 玉泉 巧报 乌素图 长乐宫 富强 振华 友谊 工农 学府
    体育 健康 南湖
    """
)
LOCAL_ROOTS = words(
    """
    花园 园林 桃园 杏园 丁香 紫薇 海棠 银河 锦绣 幸福 安居 和谐 康乐 春华 秋实 惠民 永安 金川
    宝山 云中 草原 敕勒川 阴山 大青山 黄河 哈达 百灵 马兰 丁家营 什拉门更 讨号板 西落凤 东瓦窑
    公主府 将军衙署 塞上 北垣 西顺城 通顺 太平 五塔寺
    """
)
LOCAL_SUFFIXES = ("街", "巷", "路", "巷")
ORDINALS = ("", "二", "三", "四", "五", "六", "七", "八", "九", "十")
DIRECTIONS = ("", "东", "西", "南", "北")
UNIT_NAMES = words(
    """
    新华街道 中山街道 海拉尔街道 锡林街道 昭君街道 成吉思汗街道 东风街道 兴安街道 人民街道
    大学街道 光明街道 团结街道 和平街道 建设街道 长乐宫街道 丰州街道 金桥街道 如意街道 通道街道
    石羊桥街道 巧报街道 鼓楼街道 保合少街道 乌素图街道 攸攸板街道 小黑河街道 西菜园街道 环河街道
    钢铁路街道 石东路街道 工农兵路街道 振华街道 大学西路街道 南茶坊街道 太平街道 敕勒川街道
    金川街道 讨号板街道 鄂尔多斯街道 呼伦贝尔街道 乌兰察布街道 巴彦淖尔街道
    """
)
QUADRANTS = ("东北", "西北", "西南", "东南")
