from courier_core import AssignOrder, CreateCourier


async def test_assigns_a_created_courier_on_real_postgres(use_cases):
    courier = await use_cases.couriers().create(
        CreateCourier(name="Ivan", phone="+79990001122", status="available", transport_type="car")
    )
    assignment = await use_cases.deliveries().assign(AssignOrder(order_id="o-1"))
    assert assignment.courier_id == courier.id
