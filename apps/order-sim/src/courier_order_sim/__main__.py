"""``python -m courier_order_sim``: the same as the ``courier-order-service`` console script."""

from courier_order_sim.main import main

main()
