"""Checking identities, creating and searching customers through the official SDK."""

from __future__ import annotations

import pytest
from huaweicloudsdkbss.v2 import (
    BssClient,
    CheckSubcustomerUserReq,
    CheckUserIdentityRequest,
    CreateCustomerV2Req,
    CreateSubCustomerRequest,
    ListSubCustomersRequest,
    QuerySubCustomerListReq,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from sqlalchemy import select

from partnercenter.customers import tiers
from partnercenter.customers.models import (
    Association,
    AssociationMode,
    AssociationStatus,
    Customer,
)
from partnercenter.identity.models import Organisation
from tests.bss.conftest import Channel


def check(client: BssClient, search_type: str, value: str) -> object:
    return client.check_user_identity(
        CheckUserIdentityRequest(
            body=CheckSubcustomerUserReq(search_type=search_type, search_value=value)
        )
    )


def create(client: BssClient, **fields: object) -> object:
    values: dict[str, object] = {"xaccount_id": "ext-1", "xaccount_type": "shop"}
    values.update(fields)
    return client.create_sub_customer(
        CreateSubCustomerRequest(body=CreateCustomerV2Req(**values))
    )


def search(client: BssClient, **fields: object) -> object:
    return client.list_sub_customers(
        ListSubCustomersRequest(body=QuerySubCustomerListReq(**fields))
    )


class TestCheckIdentity:
    def test_names_emails_and_mobiles(self, channel: Channel) -> None:
        taken = channel.look(Organisation, channel.resale)

        assert check(channel.partner, "name", taken.account_name).check_result == (
            "used_by_user"
        )
        assert check(channel.partner, "name", "fresh-name-01").check_result == (
            "available"
        )
        assert (
            check(
                channel.partner, "email", f"{taken.account_name}@example.com"
            ).check_result
            == "used_by_user"
        )
        mobile = check(channel.partner, "mobile", "0086-13800000001")
        assert mobile.check_result == "available"
        assert mobile.mobile_remain_available_num == 1

    @pytest.mark.parametrize(
        ("search_type", "value", "code"),
        [
            ("mobile", "13800000001", "CBC.5017"),
            ("mobile", "0044-7700900123", "CBC.5017"),
            ("name", "12345678", "CBC.99000031"),
            ("name", "op_someone", "CBC.99000031"),
            ("name", "abc", "CBC.99000031"),
            ("phone", "x", "CBC.0100"),
        ],
    )
    def test_malformed_values_are_refused(
        self, channel: Channel, search_type: str, value: str, code: str
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            check(channel.partner, search_type, value)
        assert raised.value.error_code == code


class TestCreateSubCustomer:
    def test_creates_a_resale_customer_found_by_the_search(
        self, channel: Channel
    ) -> None:
        made = create(
            channel.partner,
            domain_name="new-customer-01",
            mobile_phone="0086-13900000002",
            include_association_result=True,
        )

        assert made.domain_name == "new-customer-01"
        found = search(channel.partner, customer_id=made.domain_id)
        assert found.count == 1
        [info] = found.customer_infos
        assert info.account_name == "new-customer-01"
        assert info.association_type == "2"
        assert info.xaccount_id == "ext-1"
        assert info.xaccount_type == "shop"
        assert info.telephone
        assert "*" in info.telephone
        assert check(channel.partner, "mobile", "0086-13900000002").check_result == (
            "used_by_user"
        )

    def test_without_a_name_one_is_made_up(self, channel: Channel) -> None:
        made = create(channel.partner)

        assert made.domain_id
        assert 5 <= len(made.domain_name) <= 32
        assert check(channel.partner, "name", made.domain_name).check_result == (
            "used_by_user"
        )

    def test_refusals(self, channel: Channel) -> None:
        create(channel.partner, domain_name="taken-name-01")
        cases = [
            ({"domain_name": "taken-name-01", "xaccount_id": "ext-2"}, "CBC.99000038"),
            ({"domain_name": "another-name-01"}, "CBC.99000039"),
            ({"domain_name": "12345"}, "CBC.99000031"),
            (
                {"domain_name": "weak-pass-01", "xaccount_id": "e3", "password": "a"},
                ("CBC.99000036"),
            ),
            ({"xaccount_id": None}, "CBC.0100"),
        ]
        for fields, code in cases:
            with pytest.raises(ClientRequestException) as raised:
                create(channel.partner, **fields)
            assert raised.value.error_code == code, fields
        assert search(channel.partner, account_name="another-name").count == 0

    def test_a_distributor_creates_only_for_its_reseller(
        self, channel: Channel
    ) -> None:
        with pytest.raises(ClientRequestException) as raised:
            create(channel.distributor)
        assert raised.value.error_code == "CBC.50010059"

        reseller = channel.reseller_id
        made = create(channel.distributor, indirect_partner_id=reseller)

        association = channel.db.scalar(
            select(Association).where(
                Association.customer_id == made.domain_id,
                Association.status == AssociationStatus.ACTIVE,
            )
        )
        assert association is not None
        assert association.organisation_id == reseller
        assert association.mode is AssociationMode.RESALE
        customer = channel.db.get(Customer, made.domain_id)
        assert customer is not None
        assert customer.xaccount_id == "ext-1"
        channel.done()
        with pytest.raises(ClientRequestException) as raised:
            create(channel.partner, xaccount_id="ext-9", indirect_partner_id=reseller)
        assert raised.value.error_code == "CBC.99000037"


class TestListSubCustomers:
    def test_no_body_lists_every_customer(self, channel: Channel) -> None:
        found = channel.partner.list_sub_customers(ListSubCustomersRequest())

        assert found.count == 2
        assert {c.customer_id for c in found.customer_infos} == {
            channel.resale,
            channel.consulting,
        }

    def test_filters_and_pages(self, channel: Channel) -> None:
        resale = channel.look(Organisation, channel.resale)

        by_mode = search(channel.partner, association_type="1")
        assert [c.customer_id for c in by_mode.customer_infos] == [channel.consulting]
        by_name = search(channel.partner, account_name=resale.account_name[-4:])
        assert channel.resale in {c.customer_id for c in by_name.customer_infos}
        page = search(channel.partner, offset=1, limit=1)
        assert page.count == 2
        assert len(page.customer_infos) == 1
        assert search(channel.partner, customer_id="nobody").customer_infos == []
        with pytest.raises(ClientRequestException) as raised:
            search(channel.partner, limit=101)
        assert raised.value.error_code == "CBC.0100"

    def test_a_distributor_sees_a_resellers_customers_only_with_its_consent(
        self, channel: Channel
    ) -> None:
        reseller = channel.reseller_id

        assert search(channel.distributor, indirect_partner_id=reseller).count == 0
        tiers.accept_notice(channel.db, channel.tiers.reseller_actor)
        channel.db.commit()
        found = search(channel.distributor, indirect_partner_id=reseller)
        assert [c.customer_id for c in found.customer_infos] == [
            channel.reseller_customer
        ]
        with pytest.raises(ClientRequestException) as raised:
            search(channel.partner, indirect_partner_id=reseller)
        assert raised.value.error_code == "CBC.99000037"
