-- Prices: price rules and promo codes, and the one function that prices a booking (what a
-- customer is quoted is what the booking locks in).

CREATE OR REPLACE FUNCTION price_rules_validate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE svc_currency char(3);
BEGIN
  SELECT currency INTO svc_currency FROM services WHERE business_id = NEW.business_id AND id = NEW.service_id;
  IF FOUND AND svc_currency <> NEW.currency THEN
    RAISE EXCEPTION 'price in % for a service priced in %: give prices in the service''s currency', NEW.currency,
      svc_currency USING ERRCODE = 'BK009';
  END IF;
  RETURN NEW;
END $$;

-- The price of `p_party` seats in a slot of a service: the best matching rule (else the
-- service's price), less a promo code. booking_create calls it with what it already read;
-- booking_quote (what a customer is shown) reads the slot first. What is shown is what is locked.
CREATE OR REPLACE FUNCTION booking_price(p_business uuid, p_service uuid, p_starts timestamptz, p_local_date date,
                              p_local_start time, p_default numeric, p_currency char(3), p_party integer,
                              p_promo text, p_at timestamptz,
                              OUT unit_price numeric, OUT discount numeric, OUT amount numeric,
                              OUT currency char(3), OUT price_rule_id uuid)
LANGUAGE plpgsql STABLE AS $$
DECLARE pc promo_codes;
BEGIN
  SELECT r.amount, r.id INTO unit_price, price_rule_id FROM price_rules r
   WHERE r.business_id = p_business AND r.service_id = p_service
     AND r.valid_from <= p_starts AND (r.valid_to IS NULL OR p_starts < r.valid_to)
     AND (r.iso_weekdays IS NULL OR extract(isodow FROM p_local_date)::smallint = ANY (r.iso_weekdays))
     AND (r.local_start_from IS NULL OR p_local_start >= r.local_start_from)
     AND (r.local_start_to IS NULL OR p_local_start < r.local_start_to)
   ORDER BY r.priority DESC, r.created_at DESC, r.id DESC LIMIT 1;
  unit_price := coalesce(unit_price, p_default);
  currency := p_currency;
  amount := unit_price * p_party;
  discount := 0;
  IF p_promo IS NOT NULL THEN
    SELECT * INTO pc FROM promo_codes WHERE business_id = p_business AND code = p_promo;
    IF NOT FOUND OR pc.valid_from > p_at OR (pc.valid_to IS NOT NULL AND p_at >= pc.valid_to)
       OR (pc.max_uses IS NOT NULL AND pc.uses >= pc.max_uses) THEN
      RAISE EXCEPTION 'promo code % is not valid now: check the code or book without it', p_promo
        USING ERRCODE = 'BK014';
    END IF;
    IF pc.currency <> currency THEN
      RAISE EXCEPTION 'promo code % is in %, the booking in %', p_promo, pc.currency, currency USING ERRCODE = 'BK009';
    END IF;
    discount := least(amount, coalesce(round(amount * pc.percent_off / 100, 2), pc.amount_off));
  END IF;
  amount := amount - discount;
END $$;

CREATE OR REPLACE FUNCTION booking_quote(p_business uuid, p_slot uuid, p_party integer, p_promo text, p_at timestamptz,
                              OUT unit_price numeric, OUT discount numeric, OUT amount numeric,
                              OUT currency char(3), OUT price_rule_id uuid)
LANGUAGE sql STABLE AS $$
  SELECT p.* FROM time_slots ts
    JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
   CROSS JOIN LATERAL booking_price(ts.business_id, ts.service_id, ts.starts_at, ts.local_date, ts.local_start,
                                    sv.price, sv.currency, p_party, p_promo, p_at) p
   WHERE ts.business_id = p_business AND ts.id = p_slot
$$;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('price_rules_10_validate', 'price_rules', 'BEFORE INSERT', 'price_rules_validate');
