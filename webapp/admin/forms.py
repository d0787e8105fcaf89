"""The console's forms: parsing and CSRF only; the rules live in the admin services."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField, DecimalField, IntegerField, PasswordField, SelectChoice, SelectField, SelectMultipleField,
    StringField, TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..models import DeadlineUnit, RoutesTo, SiteKind, WebhookKind
from ..services.admin import ROLE_LABELS
from ..services.categories import FAMILY_LABELS

def choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


SITE_KIND_LABELS = {
    SiteKind.residential.value: _l("小区/家属院"),
    SiteKind.market.value: _l("市场/早市"),
    SiteKind.back_lane.value: _l("背街小巷"),
    SiteKind.commercial_street.value: _l("商业街"),
    SiteKind.shop_frontage.value: _l("临街门店"),
    SiteKind.station_area.value: _l("车站周边"),
    SiteKind.public_toilet.value: _l("公厕"),
    SiteKind.other.value: _l("其他"),
}
DEADLINE_UNIT_LABELS = {
    DeadlineUnit.same_day.value: _l("当日(一日一清)"),
    DeadlineUnit.hours.value: _l("小时"),
    DeadlineUnit.days.value: _l("天(到期当日 23:59)"),
}
ROUTES_TO_LABELS = {RoutesTo.community.value: _l("社区"), RoutesTo.market.value: _l("市场管理员")}
WEBHOOK_KIND_LABELS = {WebhookKind.wecom.value: _l("企业微信群机器人"), WebhookKind.dingtalk.value: _l("钉钉自定义机器人")}


class UserForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[Optional(), Length(max=64)])
    display_name = StringField(_l("姓名"), validators=[DataRequired(), Length(max=100)])
    roles = SelectMultipleField(_l("角色"), choices=choices(ROLE_LABELS))
    street_ids = SelectMultipleField(_l("街道"), coerce=int, choices=[], validate_choice=False)
    community_ids = SelectMultipleField(_l("社区"), coerce=int, choices=[], validate_choice=False)
    site_ids = SelectMultipleField(_l("市场"), coerce=int, choices=[], validate_choice=False)
    locale = SelectField(_l("界面语言"), choices=choices({"zh_CN": "中文", "en": "English"}))


class ActionForm(FlaskForm):
    """Buttons that change state (disable, reset, retire …) carry nothing but the CSRF token."""


class NameForm(FlaskForm):
    name = StringField(_l("名称"), validators=[DataRequired(), Length(max=200)])


class SiteForm(FlaskForm):
    name = StringField(_l("点位名称"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("类型"), choices=choices(SITE_KIND_LABELS))
    address = StringField(_l("地址"), validators=[Optional(), Length(max=300)])
    latitude = DecimalField(_l("纬度"), places=None, validators=[Optional(), NumberRange(-90, 90)])
    longitude = DecimalField(_l("经度"), places=None, validators=[Optional(), NumberRange(-180, 180)])


class CategoryForm(FlaskForm):
    code = StringField(_l("代码"), validators=[Optional(), Length(max=40)])
    name_zh = StringField(_l("中文名称"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("英文名称"), validators=[Optional(), Length(max=100)])
    family = SelectField(_l("分组"), choices=choices(FAMILY_LABELS))
    deadline_unit = SelectField(_l("整改期限"), choices=choices(DEADLINE_UNIT_LABELS))
    deadline_value = IntegerField(_l("期限数值"), validators=[Optional()], default=0)
    routes_to = SelectField(_l("派遣给"), choices=choices(ROUTES_TO_LABELS))


class WebhookForm(FlaskForm):
    kind = SelectField(_l("平台"), choices=choices(WEBHOOK_KIND_LABELS))
    url = PasswordField(_l("机器人地址(Webhook)"), validators=[Optional(), Length(max=500)])
    secret = PasswordField(_l("加签密钥(钉钉,SEC 开头)"), validators=[Optional(), Length(max=200)])
    clear_secret = BooleanField(_l("清除已保存的加签密钥"))
    enabled = BooleanField(_l("启用"), default=True)
    notify_dispatch = BooleanField(_l("派遣时通知本群"), default=True)
    overdue_times = StringField(_l("逾期提醒时间"), validators=[Optional(), Length(max=100)])
    report_time = StringField(_l("每日通报时间"), validators=[Optional(), Length(max=10)])


class ImportForm(FlaskForm):
    file = FileField(_l("CSV 文件"))
    text = TextAreaField(_l("或粘贴 CSV 内容"), validators=[Optional(), Length(max=2_000_000)])
